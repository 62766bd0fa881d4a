"""Deployment profiles: models, loading with inheritance and overrides, validation."""

from vxdeploy.profile.loader import LoadedProfile, list_profiles, load_profile
from vxdeploy.profile.model import Profile
from vxdeploy.profile.problems import Problem, ProfileError

__all__ = ["LoadedProfile", "Problem", "Profile", "ProfileError", "list_profiles", "load_profile"]
