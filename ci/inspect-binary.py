#!/usr/bin/env python3
"""Checks a release binary's headers against its Rust target, without running it.

    ci/inspect-binary.py TARGET FILE

Linux (ELF): 64-bit, the target's machine, statically linked (no program interpreter: it runs
on any distribution; a static-pie binary is ELF type DYN, still without one). macOS (Mach-O): a 64-bit executable for the target's CPU, every
linked library is /usr/lib/libSystem.B.dylib, and the minimum macOS version. Its code
signature is checked the way the kernel checks it: each page's SHA-256 must match the
CodeDirectory. arm64 must carry one (Apple Silicon kills unsigned arm64 code); x86_64 may
(Apple's ld leaves x86_64 unsigned by default, and Intel Macs and Rosetta run it so).

Prints one summary line; on a failed check prints `error: …` and exits 1. Standard library only.
"""

import hashlib
import struct
import sys

LIBSYSTEM = "/usr/lib/libSystem.B.dylib"


class Bad(Exception):
    pass


def check_elf(data, arch):
    if data[:4] != b"\x7fELF":
        raise Bad("not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise Bad("not a 64-bit little-endian ELF file")
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    want = {"x86_64": 62, "aarch64": 183}[arch]
    if e_machine != want:
        raise Bad(f"ELF machine {e_machine}, expected {want} ({arch})")
    if e_type not in (2, 3):  # EXEC, or DYN for a static-pie executable
        raise Bad(f"ELF type {e_type}, expected an executable")
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    for i in range(e_phnum):
        p_type, = struct.unpack_from("<I", data, e_phoff + i * e_phentsize)
        if p_type == 3:  # PT_INTERP
            raise Bad("dynamically linked (has a program interpreter); expected a static binary")
    kind = "static-pie" if e_type == 3 else "static"
    return f"ELF 64-bit {arch} executable, {kind} (no interpreter, no shared libraries)"


def verify_signature(data, dataoff, datasize):
    """Returns (identifier, flags) after checking every code page's hash."""
    blob = data[dataoff : dataoff + datasize]
    magic, _length, count = struct.unpack_from(">III", blob, 0)
    if magic != 0xFADE0CC0:
        raise Bad(f"code signature is not an embedded signature (magic {magic:#x})")
    cd_off = None
    for i in range(count):
        slot, off = struct.unpack_from(">II", blob, 12 + 8 * i)
        if slot == 0:
            cd_off = off
    if cd_off is None:
        raise Bad("code signature has no CodeDirectory")
    (cd_magic, _cd_len, _version, flags, hash_off, ident_off, _n_special, n_code, code_limit,
     hash_size, hash_type, _platform, page_log2) = struct.unpack_from(">9I4B", blob, cd_off)
    if cd_magic != 0xFADE0C02:
        raise Bad(f"CodeDirectory magic {cd_magic:#x}")
    if hash_type != 2 or hash_size != 32:
        raise Bad(f"CodeDirectory hash type {hash_type} size {hash_size}, expected SHA-256")
    if code_limit != dataoff:
        raise Bad(f"signature covers {code_limit} bytes, but the code ends at {dataoff}")
    page = 1 << page_log2
    if n_code != (code_limit + page - 1) // page:
        raise Bad(f"{n_code} page hashes for {code_limit} bytes in {page}-byte pages")
    for i in range(n_code):
        want = blob[cd_off + hash_off + i * 32 : cd_off + hash_off + (i + 1) * 32]
        got = hashlib.sha256(data[i * page : min((i + 1) * page, code_limit)]).digest()
        if want != got:
            raise Bad(f"code signature does not match page {i}: the file changed after signing")
    end = blob.index(b"\0", cd_off + ident_off)
    return blob[cd_off + ident_off : end].decode(), flags


def check_macho(data, arch):
    magic, cputype, _sub, filetype, ncmds, _size, _flags, _res = struct.unpack_from("<8I", data, 0)
    if magic != 0xFEEDFACF:
        raise Bad("not a 64-bit Mach-O file")
    want = {"aarch64": 0x0100000C, "x86_64": 0x01000007}[arch]
    if cputype != want:
        raise Bad(f"Mach-O CPU type {cputype:#x}, expected {want:#x} ({arch})")
    if filetype != 2:
        raise Bad(f"Mach-O file type {filetype}, expected an executable (2)")
    dylibs, sig, minos = [], None, None
    off = 32
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", data, off)
        if cmd in (0xC, 0x80000018, 0x8000001F, 0x20):  # LOAD, LOAD_WEAK, REEXPORT, LAZY_LOAD
            name_off, = struct.unpack_from("<I", data, off + 8)
            raw = data[off + name_off : off + cmdsize]
            dylibs.append(raw.split(b"\0", 1)[0].decode())
        elif cmd == 0x1D:  # LC_CODE_SIGNATURE
            sig = struct.unpack_from("<II", data, off + 8)
        elif cmd == 0x32:  # LC_BUILD_VERSION
            v, = struct.unpack_from("<I", data, off + 12)
            minos = f"{v >> 16}.{(v >> 8) & 0xFF}"
        elif cmd == 0x24:  # LC_VERSION_MIN_MACOSX
            v, = struct.unpack_from("<I", data, off + 8)
            minos = f"{v >> 16}.{(v >> 8) & 0xFF}"
        off += cmdsize
    others = [d for d in dylibs if d != LIBSYSTEM]
    if others or not dylibs:
        raise Bad(f"links {dylibs}, expected only {LIBSYSTEM}")
    if minos is None:
        raise Bad("no LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX: unknown minimum macOS")
    if sig is None:
        if arch == "aarch64":
            raise Bad("no LC_CODE_SIGNATURE: Apple Silicon refuses to run unsigned arm64 code")
        signed = "unsigned (as Apple's ld leaves x86_64)"
    else:
        ident, flags = verify_signature(data, *sig)
        kind = "ad-hoc" if flags & 0x2 else "NOT ad-hoc"
        if not flags & 0x2:
            raise Bad(f"code signature flags {flags:#x}: expected an ad-hoc signature")
        signed = f"{kind} signature valid (identifier {ident})"
    arch_name = {"aarch64": "arm64", "x86_64": "x86_64"}[arch]
    return f"Mach-O 64-bit {arch_name} executable, links only {LIBSYSTEM}, macOS {minos}+, {signed}"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: inspect-binary.py TARGET FILE")
    target, path = sys.argv[1:]
    arch = target.split("-", 1)[0]
    try:
        data = open(path, "rb").read()
        if arch not in ("x86_64", "aarch64"):
            raise Bad(f"unknown CPU in target {target}")
        if target.endswith("-apple-darwin"):
            print(check_macho(data, arch))
        elif "-linux-" in target:
            print(check_elf(data, arch))
        else:
            raise Bad(f"no header checks for target {target}")
    except (Bad, OSError, struct.error, ValueError) as e:
        print(f"error: {path} ({target}): {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
