"""Every number an annex gives, read from the profiles: changing one in a profile breaks here.

Each row names the clause, the control (by its position in the clause), the parameter and the
value the annex's words give, and the words themselves, which must be in the clause's quote.
"""

from __future__ import annotations

import pytest

from scanner.catalog.profiles import load_profile
from test_profile_quotes import normalise

DAILY_99 = [{"every_days": 1, "days": 99}]
# (profile, clause, position, control, parameter, value, words of the annex in the quote)
NUMBERS = [
    ("3douest", "3DOUEST-11.3-PORTS", 0, "net.allowed_ports", "allowed", [22, 80, 443],
     ["seuls les ports suivants sont laissés ouverts : - 80 - http - 443 - https - 22 - ssh"]),
    ("3douest", "3DOUEST-11.5-BACKUP-DAILY", 0, "host.backups", "schedule", DAILY_99,
     ["sur les 99 derniers jours", "sauvegarde quotidienne"]),
    ("3douest", "3DOUEST-11.5-BACKUP-WEEKLY", 0, "host.backups", "schedule",
     [{"every_days": 99, "days": 99}, {"every_days": 7, "days": None}],
     ["Au-delà de 99 jours, une sauvegarde par semaine est conservée"]),
    # 12 hours of unplanned downtime a year: 100 * (1 - 12 / 8760) %
    ("3douest", "3DOUEST-11.8-UNPLANNED-DOWNTIME", 0, "org.availability", "min_percent",
     round(100 * (1 - 12 / (365 * 24)), 3), ["12 heures"]),
    ("3douest", "3DOUEST-11.8-LATENCY", 0, "net.latency", "max_ms", 500, ["(réponse au ping) 0,5 s"]),
    ("3douest", "3DOUEST-11.8-HOME-PAGE", 0, "http.response_time", "max_seconds", 3,
     ["après identification de l'utilisateur 3 secondes"]),
    ("3douest", "3DOUEST-A1.VI-BREACH-NOTICE", 0, "org.breach_notification", "max_hours", 4,
     ["dans un délai maximum de 4 heures"]),
    ("3douest", "3DOUEST-A1.VIII-LOG-RETENTION", 0, "host.log_retention", "min_days", 365,
     ["à minima un an"]),
    ("teranga", "TERANGA-3.1-AVAILABILITY", 0, "org.availability", "min_percent", 99.5,
     ["à hauteur de 99,5 %"]),
    ("teranga", "TERANGA-3.2-BACKUP-DAILY", 0, "host.backups", "schedule",
     [{"every_days": 1, "days": 365}], ["sauvegardées quotidiennement", "rétention de 12 mois"]),
    ("teranga", "TERANGA-3.2-RESTORE-TEST", 0, "org.restore_test", "interval_months", 12,
     ["effectués annuellement"]),
    ("teranga", "TERANGA-5.4-AT-REST", 0, "host.disk_encryption", "min_key_bits", 256,
     ["l'algorithme AES avec une clé de chiffrement d'au moins 256 bits"]),
    ("teranga", "TERANGA-5.4-TLS", 0, "tls.min_version", "min", "1.2", ["TLS 1.2 à minima"]),
    ("sistec", "SISTEC-SAUVEGARDE-RETENTION", 0, "host.backups", "schedule",
     [{"every_days": 1, "days": 7}], ["sur une période de 7 jours"]),
    ("sistec", "SISTEC-SAUVEGARDE-RETENTION", 0, "host.backups", "min_versions", 7,
     ["7 versions de sauvegarde sont enregistrées"]),
    ("sistec", "SISTEC-SAUVEGARDE-RPO-RTO", 0, "org.recovery_objectives", "rpo_hours", 8,
     ["(RPO) maximale de 8 heures ouvrées"]),
    ("sistec", "SISTEC-SAUVEGARDE-RPO-RTO", 0, "org.recovery_objectives", "rto_hours", 8,
     ["(RTO) maximale de 8 heures ouvrées"]),
    ("sistec", "SISTEC-SAUVEGARDE-RPO-RTO", 0, "org.recovery_objectives", "unit", "business",
     ["heures ouvrées"]),
    ("sistec", "SISTEC-PROCSAUV-AVAILABILITY", 0, "org.availability", "min_percent", 99.98,
     ["est de 99,98%"]),
    ("slime", "SLIME-ART2.B.II-BREACH", 0, "org.breach_notification", "max_hours", 24,
     ["dans les 24 heures", "sous 24 heures dès sa détection"]),
    ("slime", "SLIME-AN2.5-ACCESS-REVIEW", 0, "org.access_review", "interval_months", 12,
     ["revue au minimum annuelle"]),
    ("zenlocassur", "ZENLOC-RGPD5.2-BREACH-72H", 0, "org.breach_notification", "max_hours", 72,
     ["au plus tard 72h"]),
    # "une fois par mois": the longest month, so a 31-day setting is not a failure
    ("zenlocassur", "ZENLOC-III.G1-PASSWORD-POLICY", 0, "org.password_policy", "max_age_days", 31,
     ["Renouvellement des mots de passe une fois par mois"]),
    ("zenlocassur", "ZENLOC-III.G1-PASSWORD-POLICY", 1, "host.password_policy", "max_days", 31,
     ["Renouvellement des mots de passe une fois par mois"]),
    ("zenlocassur", "ZENLOC-III.G2-ACCESS-REVIEW", 0, "org.access_review", "interval_months", 12,
     ["Revue annuelle des habilitations"]),
]


@pytest.mark.parametrize("profile_id,clause_id,position,control_id,parameter,value,words",
                         NUMBERS, ids=[f"{row[1]}-{row[4]}" for row in NUMBERS])
def test_the_annex_number_is_the_profile_number(catalog, profile_id, clause_id, position,
                                                control_id, parameter, value, words):
    clause = next(c for c in load_profile(profile_id, catalog).clauses if c.id == clause_id)
    ref = clause.controls[position]
    assert ref.control_id == control_id
    assert ref.parameters[parameter] == value
    quoted = normalise(" ".join(clause.quote))
    for text in words:
        assert normalise(text) in quoted, f"{clause_id}: the quote lacks «{text}»"
