"""Make field-report.docx beside this script with python-docx (a real Word writer): a title,
headings, paragraphs and a table.

    python3 -m venv v && v/bin/pip install python-docx && v/bin/python make_docx.py
"""
import sys
from pathlib import Path

from docx import Document

doc = Document()
doc.add_heading("Lake Varnen field report", level=0)
doc.add_paragraph(
    "This report covers the spring survey of the reed beds along the eastern inlet."
)
doc.add_heading("Nesting", level=1)
doc.add_paragraph(
    "Twelve pairs of silver-throated herons nested this year; the first chicks hatched "
    "on the ninth of May, a week later than last spring."
)
doc.add_heading("Water levels", level=2)
doc.add_paragraph(
    "The gauge at the weir read 41 centimetres in April and fell to 28 centimetres by June."
)
doc.add_heading("Equipment", level=1)
table = doc.add_table(rows=1, cols=3)
for cell, text in zip(table.rows[0].cells, ["Item", "Quantity", "Where kept"]):
    cell.text = text
for row in [("Spotting scope", "2", "boat house"), ("Waders", "5", "north shed")]:
    cells = table.add_row().cells
    for cell, text in zip(cells, row):
        cell.text = text
doc.add_paragraph("Surveyors: Ines Alvarado and Tomas Berg.")
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("field-report.docx")
doc.save(out)
print(out)
