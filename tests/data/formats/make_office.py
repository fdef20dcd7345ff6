"""Make the slide, OpenDocument, spreadsheet and e-book fixtures beside this script with real
writers: python-pptx writes the PowerPoint deck (slide titles, bullets, a table, speaker notes),
then LibreOffice (headless) converts it and the other sources:

    field-talk.pptx   python-pptx
    field-talk.odp    LibreOffice from field-talk.pptx
    field-report.odt  LibreOffice from field-report.docx (make_docx.py)
    field-report.epub LibreOffice (EPUB 3 export) from field-report.odt
    field-report.rtf  LibreOffice from field-report.odt
    station-log.xlsx  openpyxl: two sheets (a title row above the header, dates, a total)
    station-log.ods   LibreOffice from station-log.xlsx
    python3 -m venv v && v/bin/pip install python-pptx openpyxl && v/bin/python make_office.py
    (needs `soffice`: Debian's libreoffice-impress-nogui, -writer-nogui, -calc-nogui)
"""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import datetime

from openpyxl import Workbook
from pptx import Presentation
from pptx.util import Inches

HERE = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)

deck = Presentation()
title = deck.slides.add_slide(deck.slide_layouts[0])
title.shapes.title.text = "Lake Varnen: the winter season"
title.placeholders[1].text = "Station meeting, March"

s = deck.slides.add_slide(deck.slide_layouts[1])
s.shapes.title.text = "Ice cover"
body = s.placeholders[1].text_frame
body.text = "Ice first closed the bay on the fourth of December"
body.add_paragraph().text = "Thickest ice: 64 centimetres at the north buoy"
s.notes_slide.notes_text_frame.text = (
    "Remind everyone that the auger blade was replaced in January after it chipped."
)

s = deck.slides.add_slide(deck.slide_layouts[5])
s.shapes.title.text = "Fuel used"
rows = [("Month", "Diesel (litres)"), ("December", "310"), ("January", "455"), ("February", "290")]
table = s.shapes.add_table(len(rows), 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
for r, row in enumerate(rows):
    for c, text in enumerate(row):
        table.cell(r, c).text = text

s = deck.slides.add_slide(deck.slide_layouts[1])
s.shapes.title.text = "Next steps"
s.placeholders[1].text_frame.text = "Order a second snowmobile track before October"
s.notes_slide.notes_text_frame.text = "The quote from the dealer in Ostby was 1,840 euros."
deck.save(HERE / "field-talk.pptx")

book = Workbook()
fuel = book.active
fuel.title = "Fuel"
fuel.append(["Lake Varnen station: fuel deliveries"])
fuel.append(["Month", "Delivered on", "Diesel (litres)", "Supplier"])
for month, day, litres, who in [
    ("December", datetime.date(2023, 12, 4), 310, "Ostby Fuel"),
    ("January", datetime.date(2024, 1, 9), 455, "Ostby Fuel"),
    ("February", datetime.date(2024, 2, 6), 290, "Nordvik Oil"),
    ("March", datetime.date(2024, 3, 12), 1204, "Nordvik Oil"),
]:
    fuel.append([month, day, litres, who])
    fuel.cell(row=fuel.max_row, column=2).number_format = "yyyy-mm-dd"
fuel.append(["Total", None, "=SUM(C3:C6)", None])
visits = book.create_sheet("Visitors")
visits.append(["Name", "Institute", "Nights"])
visits.append(["Ines Alvarado", "University of Tartu", 6])
visits.append(["Tomas Berg", "Lund University", 11])
book.save(HERE / "station-log.xlsx")


def soffice(src: Path, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            ["soffice", "--headless", "--convert-to", fmt, "--outdir", out, str(src)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        made = next(Path(out).iterdir())
        shutil.move(made, HERE / (src.stem + "." + fmt.split(":")[0]))


soffice(HERE / "field-talk.pptx", "odp")
soffice(HERE / "field-report.docx", "odt")
soffice(HERE / "field-report.odt", "epub")
soffice(HERE / "field-report.odt", "rtf")
soffice(HERE / "station-log.xlsx", "ods")
for f in sorted(HERE.glob("*.*")):
    print(f.name, f.stat().st_size)
