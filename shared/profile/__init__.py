"""Reference profiles of training data: what the drift engine compares live traffic against."""

from modelfleet.profile._binning import BinLayout
from modelfleet.profile._compute import compute_profile
from modelfleet.profile._format import (
    CATEGORICAL,
    FORMAT_NAME,
    FORMAT_VERSION,
    NUMERICAL,
    FeatureProfile,
    ProfileError,
    ProfileSettings,
    ReferenceProfile,
)

__all__ = [
    "CATEGORICAL",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "NUMERICAL",
    "BinLayout",
    "FeatureProfile",
    "ProfileError",
    "ProfileSettings",
    "ReferenceProfile",
    "compute_profile",
]
