#!/usr/bin/env python3
"""mktar.py OUT.tar ENTRY...: writes a layer tar with exact owners and types.

ENTRY is TYPE:PATH[:ARG][@UID:GID][%MODE][#XATTR=VALUE,...] with TYPE f (file, ARG = content),
d (dir), l (symlink to ARG), h (hard link to ARG), c (char device 1:3), z (a file of ARG bytes).
"""
import io
import sys
import tarfile

out = sys.argv[1]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    for spec in sys.argv[2:]:
        xattrs = {}
        if "#" in spec:
            spec, xs = spec.split("#", 1)
            for kv in xs.split(","):
                k, v = kv.split("=", 1)
                xattrs["SCHILY.xattr." + k] = v
        mode = None
        if "%" in spec:
            spec, m = spec.rsplit("%", 1)
            mode = int(m, 8)
        uid = gid = 0
        if "@" in spec:
            spec, ids = spec.rsplit("@", 1)
            uid, gid = (int(x) for x in ids.split(":"))
        kind, rest = spec.split(":", 1)
        path, _, arg = rest.partition(":")
        ti = tarfile.TarInfo(path)
        ti.uid, ti.gid, ti.mtime = uid, gid, 1700000000
        data = None
        if kind == "f":
            data = arg.encode()
            ti.size = len(data)
            ti.mode = 0o644
        elif kind == "z":
            data = b"x" * int(arg)
            ti.size = len(data)
            ti.mode = 0o644
        elif kind == "d":
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        elif kind == "l":
            ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, arg, 0o777
        elif kind == "h":
            ti.type, ti.linkname, ti.mode = tarfile.LNKTYPE, arg, 0o644
        elif kind == "c":
            ti.type, ti.devmajor, ti.devminor, ti.mode = tarfile.CHRTYPE, 1, 3, 0o666
        else:
            sys.exit("mktar.py: unknown entry type " + kind)
        if mode is not None:
            ti.mode = mode
        ti.pax_headers = xattrs
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
