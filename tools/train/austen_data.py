"""Jane Austen's six novels from Debian's r-cran-janeaustenr, decoded without R.

The package ships data/Rdata.rdb: a concatenation of [4-byte big-endian uncompressed length][zlib stream] records,
each an R XDR serialization ("X\\n", version header, then a STRSXP of CHARSXPs). We read every record,
keep the character vectors, and join all lines with "\\n" in the order the records appear
(alphabetical: Emma, Mansfield Park, Northanger Abbey, Persuasion, Pride and Prejudice, Sense and
Sensibility), plus a final "\\n". The result is 4,025,028 characters, 4,025,029 bytes of UTF-8 (sha256 65b434d1...).
"""
import hashlib
import os
import struct
import sys
import zlib

RDB_CANDIDATES = [
    "/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb",
    "/usr/local/lib/R/site-library/janeaustenr/data/Rdata.rdb",
    "/tmp/jaroot/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb",  # dpkg -x r-cran-janeaustenr_*.deb /tmp/jaroot
]
EXPECTED_SHA256 = "65b434d16a8755142bfa95ba19c5f9abd0d30cf3dffe3b6793e834f9f56dcc96"


def find_rdb(path=None):
    for p in ([path] if path else []) + [os.environ.get("AUSTEN_RDB")] + RDB_CANDIDATES:
        if p and os.path.isfile(p):
            return p
    sys.exit("Rdata.rdb of r-cran-janeaustenr not found: apt-get install r-cran-janeaustenr "
             "(or dpkg -x r-cran-janeaustenr_1.0.0-1_all.deb /tmp/jaroot), or set AUSTEN_RDB")


class _XDR:
    def __init__(self, b):
        self.b, self.i = b, 0

    def int(self):
        v = struct.unpack_from(">i", self.b, self.i)[0]
        self.i += 4
        return v

    def bytes(self, n):
        v = self.b[self.i:self.i + n]
        self.i += n
        return v


def _strings(payload):
    """The character vector of one serialized record, or None when it is something else."""
    r = _XDR(payload)
    if r.bytes(2) != b"X\n":
        return None
    version = r.int()
    r.int()  # writer R version
    r.int()  # minimal R version
    if version == 3:
        n = r.int()
        r.bytes(n)  # native encoding name
    flags = r.int()
    if flags & 0xFF != 16:  # STRSXP
        return None
    n = r.int()
    out = []
    for _ in range(n):
        f = r.int()
        if f & 0xFF != 9:
            raise ValueError("expected CHARSXP, flags %#x" % f)
        ln = r.int()
        out.append("NA" if ln == -1 else r.bytes(ln).decode("utf-8"))
    return out


def austen_text(path=None):
    raw = open(find_rdb(path), "rb").read()
    i, lines = 0, []
    while i + 4 < len(raw):
        size = struct.unpack_from(">I", raw, i)[0]
        d = zlib.decompressobj()
        payload = d.decompress(raw[i + 4:])
        if len(payload) != size:
            raise ValueError("record at %d: %d bytes, header says %d" % (i, len(payload), size))
        vec = _strings(payload)
        if vec is not None:
            lines.extend(vec)
        i = len(raw) - len(d.unused_data)
    text = "\n".join(lines) + "\n"  # with a final newline: 4,025,029 bytes
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != EXPECTED_SHA256:
        print("warning: Austen text sha256 %s differs from the expected %s" % (digest, EXPECTED_SHA256), file=sys.stderr)
    return text


def split(text, held_out_fraction=0.05):
    """Train = the first 95% of the characters, held-out = the last 5% (a fixed split)."""
    cut = int(len(text) * (1 - held_out_fraction))
    return text[:cut], text[cut:]


if __name__ == "__main__":
    t = austen_text(sys.argv[1] if len(sys.argv) > 1 else None)
    chars = sorted(set(t))
    print(len(t), "characters,", len(chars), "distinct:", repr("".join(chars)))
    print("sha256", hashlib.sha256(t.encode()).hexdigest())
