"""Lists the packages under each mapped folder; the rest of the metadata is in pyproject.toml."""

from setuptools import find_packages, setup

FOLDERS = {"modelfleet": "shared", "modelfleet.agent": "agent", "modelfleet.desktop": "desktop"}

setup(
    packages=[
        name
        for prefix, folder in FOLDERS.items()
        for name in [prefix, *(f"{prefix}.{sub}" for sub in find_packages(folder))]
    ]
)
