import django.contrib.postgres.fields
from django.db import migrations, models


def backfill(apps, schema_editor):
    # Existing contacts get the state of their number's area code (the presumption new imports apply), in one
    # statement against a VALUES table of the area codes.
    from compliance.jurisdictions import area_code_states

    table = sorted(area_code_states().items())
    if not table:
        return
    values = ", ".join(["(%s, %s)"] * len(table))
    params = [x for npa, state in table for x in (npa, f"US-{state}")]
    schema_editor.execute(
        f"UPDATE campaigns_contact c SET jurisdictions = ARRAY[m.code]::varchar[] FROM (VALUES {values}) m(npa, code) "
        "WHERE c.phone_e164 LIKE '+1%%' AND length(c.phone_e164) = 12 AND substr(c.phone_e164, 3, 3) = m.npa",
        params)


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0012_dnc_upload_job'),
    ]

    operations = [
        migrations.AddField(
            model_name='contact',
            name='jurisdictions',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=8), blank=True, default=list, size=None),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
