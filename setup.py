"""Package list; all other metadata lives in pyproject.toml.

The Alembic migrations stay at the top-level ``migrations/`` of the
repository and ship inside the wheel as ``sqlqueue.migrations`` (mapped in
``[tool.setuptools.package-dir]``), so ``sqlqueue db upgrade`` works from
an installed package.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["sqlqueue", "sqlqueue.*"]),
        "sqlqueue.migrations",
        "sqlqueue.migrations.versions",
    ],
)
