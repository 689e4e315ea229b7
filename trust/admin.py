"""Django admin for trust: each part registers its own models in its module."""

from . import (
    audit_admin,  # noqa: F401 - "History" with field-level changes on every audited model
    privacy_admin,  # noqa: F401 - legal holds, erasures, data subjects
)
