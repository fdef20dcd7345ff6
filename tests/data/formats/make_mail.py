"""Make station-list.mbox (four messages) and boathouse.eml beside this script with Python's
`email` package and `mailbox` module (real MIME writers: multipart, base64 and
quoted-printable bodies, RFC 2047 headers, a Latin-1 message, an attached Word file, a
forwarded message).

    python3 make_mail.py
"""
import mailbox
import sys
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone, timedelta
from pathlib import Path

HERE = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
CET = timezone(timedelta(hours=1))


def message(sender, to, subject, when, body, html=None, charset="utf-8"):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = format_datetime(when)
    m["Message-ID"] = f"<{abs(hash(subject))}@varnen.example>"
    if html is not None:
        m.set_content(html, subtype="html")
    else:
        m.set_content(body, charset=charset)
    return m


first = message(
    "Ines Alvarado <ines@varnen.example>",
    "station-list@varnen.example",
    "Ice core results",
    datetime(2024, 3, 4, 9, 30, tzinfo=CET),
    "Hi all,\n\nthe core drilled at the north buoy on Saturday was 64 centimetres long;"
    " the lower third was cloudy ice.\n\nInes\n",
)
second = message(
    "Tomas Berg <tomas@varnen.example>",
    "station-list@varnen.example",
    "Field report attached",
    datetime(2024, 3, 5, 17, 5, tzinfo=CET),
    None,
    html="<html><body><p>Here is the spring <b>field report</b>; the generator "
    "needs a new <i>fuel filter</i> before the next season.</p></body></html>",
)
second.add_attachment(
    (HERE / "field-report.docx").read_bytes(),
    maintype="application",
    subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
    filename="field-report.docx",
)
second.add_attachment(b"\xff\xd8\xff\xe0 not really a photo", maintype="image",
                      subtype="jpeg", filename="reeds.jpg")
third = message(
    "Zoë Lindqvist <zoe@varnen.example>",
    "station-list@varnen.example",
    "Café budget für März",
    datetime(2024, 3, 6, 8, 0, tzinfo=CET),
    "Le café coûte 4,50 EUR la tasse à la cantine ; on garde la réserve à 120 EUR par mois.\n",
    charset="iso-8859-1",
)
fourth = message(
    "Ines Alvarado <ines@varnen.example>",
    "Tomas Berg <tomas@varnen.example>",
    "Fwd: boathouse key",
    datetime(2024, 3, 7, 12, 45, tzinfo=CET),
    "See below.\n",
)
forwarded = message(
    "Harbour office <office@ostby.example>",
    "ines@varnen.example",
    "boathouse key",
    datetime(2024, 3, 6, 15, 0, tzinfo=CET),
    "The spare boathouse key hangs in the harbour office, hook number 17.\n",
)
fourth.add_attachment(forwarded)

box_path = HERE / "station-list.mbox"
box_path.unlink(missing_ok=True)
box = mailbox.mbox(box_path)
for m in (first, second, third, fourth):
    box.add(m)
box.flush()
box.close()
(HERE / "boathouse.eml").write_bytes(bytes(forwarded))
for f in ("station-list.mbox", "boathouse.eml"):
    print(f, (HERE / f).stat().st_size)
