# The single-column FK indexes are dropped by name. A plain AlterField(db_index=False) would also drop
# every other single-column index on the column (Django matches them by column, refs #28053), including
# the partial unique index attempt_one_in_flight_per_contact on contact_id.

import django.db.models.deletion
from django.db import migrations, models

DROP = [
    ("campaigns_callattempt_campaign_id_8a56489d", "campaigns_callattempt", "campaign_id"),
    ("campaigns_callattempt_contact_id_bda1e1e3", "campaigns_callattempt", "contact_id"),
    ("campaigns_contact_campaign_id_c8e58336", "campaigns_contact", "campaign_id"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0004_report_agent_audio_listen_permission'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=[f'DROP INDEX IF EXISTS "{name}"' for name, _, _ in DROP],
                    reverse_sql=[f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")'
                                 for name, table, column in DROP],
                ),
                # Databases that ran an earlier version of this migration lost this index: put it back.
                migrations.RunSQL(
                    sql='CREATE UNIQUE INDEX IF NOT EXISTS "attempt_one_in_flight_per_contact" '
                        'ON "campaigns_callattempt" ("contact_id") WHERE NOT ("state" IN (\'ended\'))',
                    reverse_sql=migrations.RunSQL.noop,
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='callattempt',
                    name='campaign',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='attempts', to='campaigns.campaign'),
                ),
                migrations.AlterField(
                    model_name='callattempt',
                    name='contact',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='call_attempts', to='campaigns.contact'),
                ),
                migrations.AlterField(
                    model_name='contact',
                    name='campaign',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='contacts', to='campaigns.campaign'),
                ),
            ],
        ),
    ]
