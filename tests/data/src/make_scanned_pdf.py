#!/usr/bin/env python3
"""Wrap a binary PPM (P6) image into a one-page, image-only PDF.

Usage: make_scanned_pdf.py INPUT.ppm OUTPUT.pdf [PAGE_W_PT PAGE_H_PT]

The page contains nothing but one Flate-compressed RGB /Image XObject
scaled to fill the page: no fonts and no text operators, so the PDF has
no text layer (like a scanned document). Only the Python standard
library is used; the output is byte-for-byte deterministic.
"""
import sys
import zlib


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    # Header: "P6" <ws> width <ws> height <ws> maxval <single ws> pixels.
    # Comments (# ... newline) may appear between header tokens.
    tokens, pos = [], 0
    while len(tokens) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        tokens.append(data[start:pos])
    pos += 1  # exactly one whitespace byte after maxval
    if tokens[0] != b"P6":
        sys.exit(f"{path}: not a binary PPM (P6) file")
    width, height, maxval = (int(t) for t in tokens[1:])
    if maxval != 255:
        sys.exit(f"{path}: only 8-bit PPM is supported (maxval={maxval})")
    pixels = data[pos:pos + width * height * 3]
    if len(pixels) != width * height * 3:
        sys.exit(f"{path}: truncated pixel data")
    return width, height, pixels


def build_pdf(width, height, pixels, page_w, page_h):
    image = zlib.compress(pixels, 9)
    content = f"q {page_w} 0 0 {page_h} 0 0 cm /Im0 Do Q\n".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_w} {page_h}] "
         f"/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>").encode(),
        (f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
         f"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode "
         f"/Length {len(image)} >>\nstream\n").encode() + image + b"\nendstream",
        f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"endstream",
        b"<< /Producer (tests/data/src/make_scanned_pdf.py) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{num} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def main():
    if len(sys.argv) not in (3, 5):
        sys.exit(__doc__)
    page_w, page_h = (595, 842) if len(sys.argv) == 3 else map(int, sys.argv[3:5])
    width, height, pixels = read_ppm(sys.argv[1])
    with open(sys.argv[2], "wb") as f:
        f.write(build_pdf(width, height, pixels, page_w, page_h))


if __name__ == "__main__":
    main()
