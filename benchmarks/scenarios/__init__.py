"""The registered scenarios: importing a module of this package registers its scenarios.

A later step adds its own module here (framework, dashboard, canvas) and imports it below.
"""

from . import canvas, dashboard, framework, ingestion, insights, scaleout  # noqa: F401
