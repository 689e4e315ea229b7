"""The demo's alerts: the default framework applied to the demo book."""

from django.contrib.auth import get_user_model
from django.utils import timezone

from framework.selectors import framework_version_active
from framework.services import framework_version_activate

from .evaluation import framework_run


def demo_alerts_load(*, stdout) -> None:
    """Activate the default framework if nothing is active yet, then evaluate the whole book."""
    version = framework_version_active()
    if version is None:
        from framework.models import FrameworkVersion

        version = FrameworkVersion.objects.order_by("pk").first()
        if version is None:
            stdout.write("No framework version to evaluate.")
            return
        admin = get_user_model().objects.filter(username="admin").first()
        version = framework_version_activate(version=version, user=admin, today=timezone.localdate())
    summary = framework_run(version=version)
    counts = summary.counts
    stdout.write(
        f"Framework {version.name!r}: {counts.opened} alerts opened, {counts.kept} kept, {counts.closed} closed "
        f"over {summary.clients} clients."
    )
