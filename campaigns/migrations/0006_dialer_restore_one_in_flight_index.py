# An earlier version of 0005 dropped the partial unique index attempt_one_in_flight_per_contact in
# databases that had already applied it. Recreate it where it is missing (a no-op elsewhere).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0005_dialer_drop_redundant_fk_indexes'),
    ]

    operations = [
        migrations.RunSQL(
            sql='CREATE UNIQUE INDEX IF NOT EXISTS "attempt_one_in_flight_per_contact" '
                'ON "campaigns_callattempt" ("contact_id") WHERE NOT ("state" IN (\'ended\'))',
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
