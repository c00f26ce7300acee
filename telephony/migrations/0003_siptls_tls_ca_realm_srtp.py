"""F5: a trunk's own TLS CA; digest trunks name their realm; SRTP mandatory only over TLS (database constraints).

Rows that break a new rule cannot be repaired here (nobody but the operator knows the provider's realm, or whether
the trunk should move to TLS or drop SRTP), so the migration stops before the constraints with a message naming
each such trunk and what to change; the operator fixes them and runs it again.
"""

from django.db import migrations, models
from django.db.models import Q


def refuse_insecure_trunks(apps, schema_editor):  # noqa: ANN001, ANN201 - the RunPython signature
    trunk = apps.get_model("telephony", "Trunk")
    problems = [
        f"trunk {row.pk} ({row.name}): digest authentication without a realm (set the provider's realm)"
        for row in trunk.objects.exclude(auth_mode="ip").filter(Q(realm="") | Q(realm="*"))
    ] + [
        f"trunk {row.pk} ({row.name}): SRTP mandatory over {row.transport.upper()} (use TLS, or SRTP optional)"
        for row in trunk.objects.filter(srtp_policy="mandatory").exclude(transport="tls")
    ]
    if problems:
        raise RuntimeError("telephony 0003: these trunks break the F5 rules; fix them, then migrate again:\n  "
                           + "\n  ".join(problems))


class Migration(migrations.Migration):

    dependencies = [
        ('telephony', '0002_trunk_password_encrypted'),
    ]

    operations = [
        migrations.AddField(
            model_name='trunk',
            name='tls_ca_pem',
            field=models.TextField(blank=True, help_text="TLS trunks: the CA certificate(s), PEM, that sign the provider's certificate. Blank: the system's CA bundle. The certificate must also name the host above.", verbose_name='TLS CA certificate'),
        ),
        migrations.AlterField(
            model_name='trunk',
            name='srtp_policy',
            field=models.CharField(choices=[('disabled', 'Disabled'), ('optional', 'Optional'), ('mandatory', 'Mandatory')], default='disabled', help_text='Mandatory needs the TLS transport (the SDES keys travel in the SDP).', max_length=10),
        ),
        migrations.RunPython(refuse_insecure_trunks, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='trunk',
            constraint=models.CheckConstraint(condition=models.Q(('auth_mode', 'ip'), models.Q(models.Q(('realm', ''), _negated=True), models.Q(('realm', '*'), _negated=True)), _connector='OR'), name='trunk_digest_has_realm', violation_error_message="Digest and REGISTER authentication need the provider's realm."),
        ),
        migrations.AddConstraint(
            model_name='trunk',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('srtp_policy', 'mandatory'), _negated=True), ('transport', 'tls'), _connector='OR'), name='trunk_mandatory_srtp_over_tls', violation_error_message='SRTP mandatory needs the TLS transport.'),
        ),
    ]
