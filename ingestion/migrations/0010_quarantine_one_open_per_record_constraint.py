# The constraint in a migration of its own: on PostgreSQL, an index cannot be built in the
# transaction that just updated the table's rows (their deferred key checks are still pending).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ingestion', '0009_quarantine_one_open_entry_per_record'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='quarantinedrecord',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'open'), models.Q(('record_id', ''), _negated=True)), fields=('source', 'record_id'), name='quarantine_one_open_per_record'),
        ),
    ]
