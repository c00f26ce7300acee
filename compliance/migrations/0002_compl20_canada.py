from django.db import migrations, models


def backfill_canadian_contacts(apps, schema_editor):
    # Contacts imported before Canada's rules get what new imports get: the CRTC's national rules and their
    # province ("CA", "CA-ON"), and, where they hold the zones phonenumbers gives, every zone an area code
    # spanning several may be in (compliance.canada). A zone the contact file narrowed to is kept.
    from phonenumbers.tzdata import TIMEZONE_DATA

    from compliance.canada import COUNTRY, area_codes

    table = sorted(area_codes().items())
    if not table:
        return
    values = ", ".join(["(%s, %s::varchar[], %s::varchar[], %s::varchar[])"] * len(table))
    params = [x for npa, (provinces, zones) in table
              for x in (npa, [COUNTRY, *(f"CA-{p}" for p in provinces)], list(zones),
                        [z for z in TIMEZONE_DATA.get("1" + npa, ()) if z != "Etc/Unknown"])]
    schema_editor.execute(
        "UPDATE campaigns_contact c SET jurisdictions = m.codes, "
        "time_zones = CASE WHEN c.time_zones = m.own THEN m.zones ELSE c.time_zones END "
        f"FROM (VALUES {values}) m(npa, codes, zones, own) "
        "WHERE c.phone_e164 LIKE '+1%%' AND length(c.phone_e164) = 12 AND substr(c.phone_e164, 3, 3) = m.npa "
        "AND c.jurisdictions = '{}'",
        params)


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0001_initial'),
        ('campaigns', '0016_campaign_direct_calls'),
    ]

    operations = [
        migrations.AddField(
            model_name='campaigncompliance',
            name='callback_number',
            field=models.CharField(blank=True, help_text='A local or toll-free number where a person of the caller answers (spoken to contacts whose rules require it, e.g. Canada).', max_length=32),
        ),
        migrations.AddField(
            model_name='campaigncompliance',
            name='mailing_address',
            field=models.CharField(blank=True, help_text="The caller's mailing address (the same).", max_length=300),
        ),
        migrations.AddField(
            model_name='nationaldnclist',
            name='registry',
            field=models.CharField(choices=[('us', 'US National Do Not Call Registry (FTC)'), ('ca', "Canada's National Do Not Call List (CRTC)")], default='us', help_text="The US National Do Not Call Registry or Canada's National DNCL.", max_length=2),
        ),
        migrations.RunPython(backfill_canadian_contacts, migrations.RunPython.noop),
    ]
