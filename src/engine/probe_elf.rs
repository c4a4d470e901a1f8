//! Tiny static ELF executables for the emulation preflight.
//!
//! The preflight builds a throwaway image for the *target* platform through the real buildx
//! builder:
//!
//! ```text
//! FROM scratch
//! COPY probe /probe
//! RUN ["/probe"]
//! ```
//!
//! where `probe` holds the bytes [`for_arch`] gives for that platform. The file in the build
//! context must be mode 0755 (or use `COPY --chmod=0755`): `FROM scratch` has no shell and no
//! `chmod`. If the `RUN` step succeeds (it prints [`PROBE_OUTPUT`]), the builder really executes
//! that architecture, natively or through a binfmt_misc emulator such as qemu-user. If it fails
//! with `exec /probe: exec format error`, nothing can run it. The platform list of
//! `docker buildx inspect` is no proof either way; this is.
//!
//! # What a probe does
//!
//! `write(1, "azdeploy-probe-ok\n", 18)`, then `exit_group(0)`. Nothing else: no libc, no
//! interpreter, no dynamic section, no section headers. The result of `write` is ignored (the
//! exit status is 0 either way): the signal is that the `RUN` step succeeds, and the word is for
//! logs and for the tests.
//!
//! # File layout (the same for every probe)
//!
//! | part                                      | ELF64 offset | ELF32 (arm) offset |
//! |-------------------------------------------|--------------|--------------------|
//! | ELF header                                | 0x00 (64 B)  | 0x00 (52 B)        |
//! | program header 0: `PT_LOAD`               | 0x40 (56 B)  | 0x34 (32 B)        |
//! | program header 1: `PT_GNU_STACK`          | 0x78 (56 B)  | 0x54 (32 B)        |
//! | code, `e_entry` = 0x400000 + offset       | 0xb0         | 0x74               |
//! | `"azdeploy-probe-ok\n"` (18 bytes)        | after code   | after code         |
//!
//! - `ET_EXEC` at the fixed address 0x400000. The single `PT_LOAD` maps the whole file (headers
//!   included: `p_offset` 0, `p_filesz` = `p_memsz` = file size) with `PF_R | PF_X` and no
//!   `PF_W`; the message is read-only data in the same segment. 0x400000 is a multiple of
//!   64 KiB, so `p_vaddr ≡ p_offset` holds under 4, 16 and 64 KiB pages (arm64 and ppc64le
//!   kernels often use 64 KiB), and it is far above `vm.mmap_min_addr`.
//! - `PT_GNU_STACK` (`PF_R | PF_W`, no data) declares that the stack need not be executable.
//!   Without it, Linux before 5.8 (and still today for 32-bit arm) turns on `READ_IMPLIES_EXEC`
//!   for the process. Every toolchain emits it; it costs 56 (ELF32: 32) bytes.
//! - `e_flags` is 0 except for arm, `0x05000000` = `EF_ARM_EABI_VER5` (arm64 kernels run 32-bit
//!   binaries only if they carry an EABI version), and ppc64le, `2` = ELFv2 ABI (without it
//!   the loader takes `e_entry` for an ELFv1 function descriptor: qemu-ppc64le then crashes,
//!   and little-endian kernels refuse the file).
//! - Multi-byte fields are in the file's byte order: little-endian except for s390x.
//!
//! # System calls
//!
//! | platform        | `e_machine`       | class, order  | trap      | nr in | args           | write | exit_group |
//! |-----------------|-------------------|---------------|-----------|-------|----------------|-------|------------|
//! | `linux/amd64`   | 62 `EM_X86_64`    | ELF64, LE     | `syscall` | `eax` | `rdi rsi rdx`  | 1     | 231        |
//! | `linux/arm64`   | 183 `EM_AARCH64`  | ELF64, LE     | `svc #0`  | `x8`  | `x0 x1 x2`     | 64    | 94         |
//! | `linux/arm/v7`  | 40 `EM_ARM`       | ELF32, LE     | `svc #0`  | `r7`  | `r0 r1 r2`     | 4     | 248        |
//! | `linux/riscv64` | 243 `EM_RISCV`    | ELF64, LE     | `ecall`   | `a7`  | `a0 a1 a2`     | 64    | 94         |
//! | `linux/ppc64le` | 21 `EM_PPC64`     | ELF64, LE     | `sc`      | `r0`  | `r3 r4 r5`     | 4     | 234        |
//! | `linux/s390x`   | 22 `EM_S390`      | ELF64, BE     | `svc nr`  | imm   | `r2 r3 r4`     | 4     | 248        |
//!
//! The message address is PC-relative where the ISA has it (`lea [rip+…]`, `adr`, `add r1, pc`,
//! `auipc`, `larl`) and absolute on ppc64le (`lis`/`ori`, fine for a fixed-address `ET_EXEC`).
//! Only base instructions are used (no RVC on riscv64, A32 valid from ARMv5 on arm).
//!
//! # How the bytes were made and checked
//!
//! Each array below lists every header field and every instruction next to its bytes, with the
//! address and (for the fixed-width ISAs) the instruction word as `objdump` prints it. They were
//! encoded by a small script from those listings (on the little-endian fixed-width ISAs the
//! word is stored low byte first: `d2800020` is `0x20, 0x00, 0x80, 0xd2`) and then checked
//! outside Rust:
//!
//! - the code and message are byte-for-byte what GNU as/ld 2.40 (`binutils-<arch>-linux-gnu`)
//!   produce for the same listing linked at the same address, and
//!   `objdump -D -b binary -m <arch> --start-address=<code offset>` prints the commented listing;
//! - `readelf -h -l` reads each file without complaint;
//! - x86_64 runs natively; all six run under qemu-user 7.2 (`qemu-<arch>-static -strace` shows
//!   exactly `write(1, …, 18) = 18` and `exit_group(0)`), arm also with `-cpu arm926`, `arm1176`,
//!   `cortex-a7`, `cortex-a15` and `max`;
//! - all six pass `docker buildx build --platform linux/<arch>` with the Dockerfile above
//!   (BuildKit with binfmt_misc qemu), printing the word; a copy with an unknown `e_machine`
//!   fails there with `exec /probe: exec format error`.
//!
//! The tests below re-check the headers by hand-parsing them, run the host's probe natively, and
//! run every probe under `qemu-<arch>-static` when it is on `PATH` (otherwise they say so on
//! stderr and pass).

/// What every probe prints (followed by a newline) when it runs.
pub const PROBE_OUTPUT: &str = "azdeploy-probe-ok";

/// The probe for a docker platform's architecture and variant (`linux/arm/v7` is
/// `for_arch("arm", Some("v7"))`), or `None` when we have none for it: `amd64`, `arm64`, `arm`
/// (no variant, docker's default v7, or `v5` to `v8`), `riscv64`, `ppc64le` and `s390x`.
///
/// Variants of the 64-bit architectures are accepted and ignored: the probes use only baseline
/// instructions, so they prove the architecture runs at all, not that (say) an emulator offers
/// the AVX2 of `amd64/v3`. Names are docker's, lowercase, as in `docker buildx build --platform`.
pub fn for_arch(arch: &str, variant: Option<&str>) -> Option<&'static [u8]> {
    match (arch, variant) {
        ("amd64", _) => Some(X86_64),
        ("arm64", _) => Some(AARCH64),
        ("arm", None | Some("v5" | "v6" | "v7" | "v8")) => Some(ARMV7),
        ("riscv64", _) => Some(RISCV64),
        ("ppc64le", _) => Some(PPC64LE),
        ("s390x", _) => Some(S390X),
        _ => None,
    }
}

/// `linux/amd64`: x86-64, ELF64 little-endian, 227 bytes.
///
/// `mov r32, imm32` is `b8+r` then the immediate (eax = 0, edx = 2, edi = 7); `lea rsi, [rip+d]`
/// is `48 8d 35` then `d` (disp32), counted from the end of the `lea`.
#[rustfmt::skip]
const X86_64: &[u8] = &[
    // ELF header (64 bytes) at file offset 0x00
    0x7f, b'E', b'L', b'F',                         // e_ident[EI_MAG0..EI_MAG3]
    0x02,                                           // e_ident[EI_CLASS]: 2 = ELFCLASS64
    0x01,                                           // e_ident[EI_DATA]: 1 = ELFDATA2LSB
    0x01,                                           // e_ident[EI_VERSION]: 1 = EV_CURRENT
    0x00,                                           // e_ident[EI_OSABI]: 0 = ELFOSABI_SYSV
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_ident[EI_ABIVERSION] and padding: 0
    0x02, 0x00,                                     // e_type: 2 = ET_EXEC
    0x3e, 0x00,                                     // e_machine: 62 = EM_X86_64
    0x01, 0x00, 0x00, 0x00,                         // e_version: 1 = EV_CURRENT
    0xb0, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // e_entry: 0x4000b0 (file offset 0xb0)
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_phoff: 64, right after this header
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_shoff: 0, no section headers
    0x00, 0x00, 0x00, 0x00,                         // e_flags: 0x0
    0x40, 0x00,                                     // e_ehsize: 64
    0x38, 0x00,                                     // e_phentsize: 56
    0x02, 0x00,                                     // e_phnum: 2
    0x00, 0x00,                                     // e_shentsize: 0
    0x00, 0x00,                                     // e_shnum: 0
    0x00, 0x00,                                     // e_shstrndx: 0 = SHN_UNDEF
    // program header 0 at file offset 0x40
    0x01, 0x00, 0x00, 0x00,                         // p_type: 1 = PT_LOAD, the whole file
    0x05, 0x00, 0x00, 0x00,                         // p_flags: 5 = PF_R | PF_X
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_offset: 0x0
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // p_vaddr: 0x400000
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // p_paddr: 0x400000
    0xe3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_filesz: 227
    0xe3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_memsz: 227
    0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_align: 0x1000
    // program header 1 at file offset 0x78
    0x51, 0xe5, 0x74, 0x64,                         // p_type: 0x6474e551 = PT_GNU_STACK
    0x06, 0x00, 0x00, 0x00,                         // p_flags: 6 = PF_R | PF_W, no PF_X
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_offset: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_vaddr: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_paddr: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_filesz: 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_memsz: 0
    0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_align: 0x10
    // code at file offset 0xb0 = vaddr 0x4000b0 = e_entry
    0xb8, 0x01, 0x00, 0x00, 0x00,             // 4000b0: mov eax, 1          ; eax = 1 = SYS_write
    0xbf, 0x01, 0x00, 0x00, 0x00,             // 4000b5: mov edi, 1          ; arg0: fd 1 (stdout)
    0x48, 0x8d, 0x35, 0x10, 0x00, 0x00, 0x00, // 4000ba: lea rsi, [rip+0x10] ; arg1: msg = 0x4000d1 (rip = 0x4000c1)
    0xba, 0x12, 0x00, 0x00, 0x00,             // 4000c1: mov edx, 18         ; arg2: length 18
    0x0f, 0x05,                               // 4000c6: syscall             ; write(1, msg, 18)
    0xb8, 0xe7, 0x00, 0x00, 0x00,             // 4000c8: mov eax, 231        ; eax = 231 = SYS_exit_group
    0x31, 0xff,                               // 4000cd: xor edi, edi        ; arg0: status 0
    0x0f, 0x05,                               // 4000cf: syscall             ; exit_group(0)
    // message at file offset 0xd1 = vaddr 0x4000d1: "azdeploy-probe-ok\n" (18 bytes)
    b'a', b'z', b'd', b'e', b'p', b'l', b'o', b'y', b'-',
    b'p', b'r', b'o', b'b', b'e', b'-', b'o', b'k', b'\n',
];

/// `linux/arm64`: AArch64, ELF64 little-endian, 226 bytes.
///
/// `mov xd, #imm` is MOVZ: `0xd2800000 | imm << 5 | d`. `adr x1, .+0x1c` is
/// `0x10000000 | immlo << 29 | immhi << 5 | 1` with `0x1c` = `immhi 7, immlo 0`.
#[rustfmt::skip]
const AARCH64: &[u8] = &[
    // ELF header (64 bytes) at file offset 0x00
    0x7f, b'E', b'L', b'F',                         // e_ident[EI_MAG0..EI_MAG3]
    0x02,                                           // e_ident[EI_CLASS]: 2 = ELFCLASS64
    0x01,                                           // e_ident[EI_DATA]: 1 = ELFDATA2LSB
    0x01,                                           // e_ident[EI_VERSION]: 1 = EV_CURRENT
    0x00,                                           // e_ident[EI_OSABI]: 0 = ELFOSABI_SYSV
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_ident[EI_ABIVERSION] and padding: 0
    0x02, 0x00,                                     // e_type: 2 = ET_EXEC
    0xb7, 0x00,                                     // e_machine: 183 = EM_AARCH64
    0x01, 0x00, 0x00, 0x00,                         // e_version: 1 = EV_CURRENT
    0xb0, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // e_entry: 0x4000b0 (file offset 0xb0)
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_phoff: 64, right after this header
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_shoff: 0, no section headers
    0x00, 0x00, 0x00, 0x00,                         // e_flags: 0x0
    0x40, 0x00,                                     // e_ehsize: 64
    0x38, 0x00,                                     // e_phentsize: 56
    0x02, 0x00,                                     // e_phnum: 2
    0x00, 0x00,                                     // e_shentsize: 0
    0x00, 0x00,                                     // e_shnum: 0
    0x00, 0x00,                                     // e_shstrndx: 0 = SHN_UNDEF
    // program header 0 at file offset 0x40
    0x01, 0x00, 0x00, 0x00,                         // p_type: 1 = PT_LOAD, the whole file
    0x05, 0x00, 0x00, 0x00,                         // p_flags: 5 = PF_R | PF_X
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_offset: 0x0
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // p_vaddr: 0x400000
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // p_paddr: 0x400000
    0xe2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_filesz: 226
    0xe2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_memsz: 226
    0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_align: 0x1000
    // program header 1 at file offset 0x78
    0x51, 0xe5, 0x74, 0x64,                         // p_type: 0x6474e551 = PT_GNU_STACK
    0x06, 0x00, 0x00, 0x00,                         // p_flags: 6 = PF_R | PF_W, no PF_X
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_offset: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_vaddr: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_paddr: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_filesz: 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_memsz: 0
    0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_align: 0x10
    // code at file offset 0xb0 = vaddr 0x4000b0 = e_entry
    0x20, 0x00, 0x80, 0xd2, // 4000b0: d2800020  mov x0, #1     ; arg0: fd 1 (stdout)
    0xe1, 0x00, 0x00, 0x10, // 4000b4: 100000e1  adr x1, .+0x1c ; arg1: msg = 0x4000d0
    0x42, 0x02, 0x80, 0xd2, // 4000b8: d2800242  mov x2, #18    ; arg2: length 18
    0x08, 0x08, 0x80, 0xd2, // 4000bc: d2800808  mov x8, #64    ; x8 = 64 = SYS_write
    0x01, 0x00, 0x00, 0xd4, // 4000c0: d4000001  svc #0         ; write(1, msg, 18)
    0x00, 0x00, 0x80, 0xd2, // 4000c4: d2800000  mov x0, #0     ; arg0: status 0
    0xc8, 0x0b, 0x80, 0xd2, // 4000c8: d2800bc8  mov x8, #94    ; x8 = 94 = SYS_exit_group
    0x01, 0x00, 0x00, 0xd4, // 4000cc: d4000001  svc #0         ; exit_group(0)
    // message at file offset 0xd0 = vaddr 0x4000d0: "azdeploy-probe-ok\n" (18 bytes)
    b'a', b'z', b'd', b'e', b'p', b'l', b'o', b'y', b'-',
    b'p', b'r', b'o', b'b', b'e', b'-', b'o', b'k', b'\n',
];

/// `linux/arm/v7` (and v5, v6, v8): 32-bit ARM, A32 instructions, EABI syscalls, ELF32
/// little-endian, 166 bytes.
///
/// `mov rd, #imm8` is `0xe3a00000 | d << 12 | imm8`; `add r1, pc, #20` (= `adr r1, msg`) is
/// `0xe28f1000 | 20`, and `pc` reads as the address of the `add` plus 8.
#[rustfmt::skip]
const ARMV7: &[u8] = &[
    // ELF header (52 bytes) at file offset 0x00
    0x7f, b'E', b'L', b'F',                         // e_ident[EI_MAG0..EI_MAG3]
    0x01,                                           // e_ident[EI_CLASS]: 1 = ELFCLASS32
    0x01,                                           // e_ident[EI_DATA]: 1 = ELFDATA2LSB
    0x01,                                           // e_ident[EI_VERSION]: 1 = EV_CURRENT
    0x00,                                           // e_ident[EI_OSABI]: 0 = ELFOSABI_SYSV
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_ident[EI_ABIVERSION] and padding: 0
    0x02, 0x00,                                     // e_type: 2 = ET_EXEC
    0x28, 0x00,                                     // e_machine: 40 = EM_ARM
    0x01, 0x00, 0x00, 0x00,                         // e_version: 1 = EV_CURRENT
    0x74, 0x00, 0x40, 0x00,                         // e_entry: 0x400074 (file offset 0x74)
    0x34, 0x00, 0x00, 0x00,                         // e_phoff: 52, right after this header
    0x00, 0x00, 0x00, 0x00,                         // e_shoff: 0, no section headers
    0x00, 0x00, 0x00, 0x05,                         // e_flags: 0x5000000 = EF_ARM_EABI_VER5
    0x34, 0x00,                                     // e_ehsize: 52
    0x20, 0x00,                                     // e_phentsize: 32
    0x02, 0x00,                                     // e_phnum: 2
    0x00, 0x00,                                     // e_shentsize: 0
    0x00, 0x00,                                     // e_shnum: 0
    0x00, 0x00,                                     // e_shstrndx: 0 = SHN_UNDEF
    // program header 0 at file offset 0x34
    0x01, 0x00, 0x00, 0x00,                         // p_type: 1 = PT_LOAD, the whole file
    0x00, 0x00, 0x00, 0x00,                         // p_offset: 0x0
    0x00, 0x00, 0x40, 0x00,                         // p_vaddr: 0x400000
    0x00, 0x00, 0x40, 0x00,                         // p_paddr: 0x400000
    0xa6, 0x00, 0x00, 0x00,                         // p_filesz: 166
    0xa6, 0x00, 0x00, 0x00,                         // p_memsz: 166
    0x05, 0x00, 0x00, 0x00,                         // p_flags: 5 = PF_R | PF_X
    0x00, 0x10, 0x00, 0x00,                         // p_align: 0x1000
    // program header 1 at file offset 0x54
    0x51, 0xe5, 0x74, 0x64,                         // p_type: 0x6474e551 = PT_GNU_STACK
    0x00, 0x00, 0x00, 0x00,                         // p_offset: 0x0
    0x00, 0x00, 0x00, 0x00,                         // p_vaddr: 0x0
    0x00, 0x00, 0x00, 0x00,                         // p_paddr: 0x0
    0x00, 0x00, 0x00, 0x00,                         // p_filesz: 0
    0x00, 0x00, 0x00, 0x00,                         // p_memsz: 0
    0x06, 0x00, 0x00, 0x00,                         // p_flags: 6 = PF_R | PF_W, no PF_X
    0x10, 0x00, 0x00, 0x00,                         // p_align: 0x10
    // code at file offset 0x74 = vaddr 0x400074 = e_entry
    0x01, 0x00, 0xa0, 0xe3, // 400074: e3a00001  mov r0, #1      ; arg0: fd 1 (stdout)
    0x14, 0x10, 0x8f, 0xe2, // 400078: e28f1014  add r1, pc, #20 ; arg1: msg = 0x400094 (pc = . + 8)
    0x12, 0x20, 0xa0, 0xe3, // 40007c: e3a02012  mov r2, #18     ; arg2: length 18
    0x04, 0x70, 0xa0, 0xe3, // 400080: e3a07004  mov r7, #4      ; r7 = 4 = SYS_write
    0x00, 0x00, 0x00, 0xef, // 400084: ef000000  svc #0          ; write(1, msg, 18)
    0x00, 0x00, 0xa0, 0xe3, // 400088: e3a00000  mov r0, #0      ; arg0: status 0
    0xf8, 0x70, 0xa0, 0xe3, // 40008c: e3a070f8  mov r7, #248    ; r7 = 248 = SYS_exit_group
    0x00, 0x00, 0x00, 0xef, // 400090: ef000000  svc #0          ; exit_group(0)
    // message at file offset 0x94 = vaddr 0x400094: "azdeploy-probe-ok\n" (18 bytes)
    b'a', b'z', b'd', b'e', b'p', b'l', b'o', b'y', b'-',
    b'p', b'r', b'o', b'b', b'e', b'-', b'o', b'k', b'\n',
];

/// `linux/riscv64`: RV64I without compressed instructions, ELF64 little-endian, 230 bytes.
///
/// `addi rd, rs1, imm` is `imm << 20 | rs1 << 15 | rd << 7 | 0x13` (a0 = x10, a1 = x11,
/// a2 = x12, a7 = x17); `auipc a1, 0` is `11 << 7 | 0x17`.
#[rustfmt::skip]
const RISCV64: &[u8] = &[
    // ELF header (64 bytes) at file offset 0x00
    0x7f, b'E', b'L', b'F',                         // e_ident[EI_MAG0..EI_MAG3]
    0x02,                                           // e_ident[EI_CLASS]: 2 = ELFCLASS64
    0x01,                                           // e_ident[EI_DATA]: 1 = ELFDATA2LSB
    0x01,                                           // e_ident[EI_VERSION]: 1 = EV_CURRENT
    0x00,                                           // e_ident[EI_OSABI]: 0 = ELFOSABI_SYSV
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_ident[EI_ABIVERSION] and padding: 0
    0x02, 0x00,                                     // e_type: 2 = ET_EXEC
    0xf3, 0x00,                                     // e_machine: 243 = EM_RISCV
    0x01, 0x00, 0x00, 0x00,                         // e_version: 1 = EV_CURRENT
    0xb0, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // e_entry: 0x4000b0 (file offset 0xb0)
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_phoff: 64, right after this header
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_shoff: 0, no section headers
    0x00, 0x00, 0x00, 0x00,                         // e_flags: 0x0: no RVC, soft-float ABI
    0x40, 0x00,                                     // e_ehsize: 64
    0x38, 0x00,                                     // e_phentsize: 56
    0x02, 0x00,                                     // e_phnum: 2
    0x00, 0x00,                                     // e_shentsize: 0
    0x00, 0x00,                                     // e_shnum: 0
    0x00, 0x00,                                     // e_shstrndx: 0 = SHN_UNDEF
    // program header 0 at file offset 0x40
    0x01, 0x00, 0x00, 0x00,                         // p_type: 1 = PT_LOAD, the whole file
    0x05, 0x00, 0x00, 0x00,                         // p_flags: 5 = PF_R | PF_X
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_offset: 0x0
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // p_vaddr: 0x400000
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // p_paddr: 0x400000
    0xe6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_filesz: 230
    0xe6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_memsz: 230
    0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_align: 0x1000
    // program header 1 at file offset 0x78
    0x51, 0xe5, 0x74, 0x64,                         // p_type: 0x6474e551 = PT_GNU_STACK
    0x06, 0x00, 0x00, 0x00,                         // p_flags: 6 = PF_R | PF_W, no PF_X
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_offset: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_vaddr: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_paddr: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_filesz: 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_memsz: 0
    0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_align: 0x10
    // code at file offset 0xb0 = vaddr 0x4000b0 = e_entry
    0x13, 0x05, 0x10, 0x00, // 4000b0: 00100513  addi a0, zero, 1  ; arg0: fd 1 (stdout)
    0x97, 0x05, 0x00, 0x00, // 4000b4: 00000597  auipc a1, 0       ; a1 = this insn = 0x4000b4
    0x93, 0x85, 0x05, 0x02, // 4000b8: 02058593  addi a1, a1, 32   ; arg1: msg = a1 + 32 = 0x4000d4
    0x13, 0x06, 0x20, 0x01, // 4000bc: 01200613  addi a2, zero, 18 ; arg2: length 18
    0x93, 0x08, 0x00, 0x04, // 4000c0: 04000893  addi a7, zero, 64 ; a7 = 64 = SYS_write
    0x73, 0x00, 0x00, 0x00, // 4000c4: 00000073  ecall             ; write(1, msg, 18)
    0x13, 0x05, 0x00, 0x00, // 4000c8: 00000513  addi a0, zero, 0  ; arg0: status 0
    0x93, 0x08, 0xe0, 0x05, // 4000cc: 05e00893  addi a7, zero, 94 ; a7 = 94 = SYS_exit_group
    0x73, 0x00, 0x00, 0x00, // 4000d0: 00000073  ecall             ; exit_group(0)
    // message at file offset 0xd4 = vaddr 0x4000d4: "azdeploy-probe-ok\n" (18 bytes)
    b'a', b'z', b'd', b'e', b'p', b'l', b'o', b'y', b'-',
    b'p', b'r', b'o', b'b', b'e', b'-', b'o', b'k', b'\n',
];

/// `linux/ppc64le`: 64-bit POWER, ELFv2 ABI, ELF64 little-endian, 230 bytes.
///
/// D-form: `opcode << 26 | rt << 21 | ra << 16 | imm16` with `li` = `addi` (14, ra = 0),
/// `lis` = `addis` (15, ra = 0), `ori` (24, its rs in the rt slot). `sc` is `0x44000002`.
#[rustfmt::skip]
const PPC64LE: &[u8] = &[
    // ELF header (64 bytes) at file offset 0x00
    0x7f, b'E', b'L', b'F',                         // e_ident[EI_MAG0..EI_MAG3]
    0x02,                                           // e_ident[EI_CLASS]: 2 = ELFCLASS64
    0x01,                                           // e_ident[EI_DATA]: 1 = ELFDATA2LSB
    0x01,                                           // e_ident[EI_VERSION]: 1 = EV_CURRENT
    0x00,                                           // e_ident[EI_OSABI]: 0 = ELFOSABI_SYSV
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_ident[EI_ABIVERSION] and padding: 0
    0x02, 0x00,                                     // e_type: 2 = ET_EXEC
    0x15, 0x00,                                     // e_machine: 21 = EM_PPC64
    0x01, 0x00, 0x00, 0x00,                         // e_version: 1 = EV_CURRENT
    0xb0, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // e_entry: 0x4000b0 (file offset 0xb0)
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_phoff: 64, right after this header
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_shoff: 0, no section headers
    0x02, 0x00, 0x00, 0x00,                         // e_flags: 0x2 = ELFv2 ABI
    0x40, 0x00,                                     // e_ehsize: 64
    0x38, 0x00,                                     // e_phentsize: 56
    0x02, 0x00,                                     // e_phnum: 2
    0x00, 0x00,                                     // e_shentsize: 0
    0x00, 0x00,                                     // e_shnum: 0
    0x00, 0x00,                                     // e_shstrndx: 0 = SHN_UNDEF
    // program header 0 at file offset 0x40
    0x01, 0x00, 0x00, 0x00,                         // p_type: 1 = PT_LOAD, the whole file
    0x05, 0x00, 0x00, 0x00,                         // p_flags: 5 = PF_R | PF_X
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_offset: 0x0
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // p_vaddr: 0x400000
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, // p_paddr: 0x400000
    0xe6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_filesz: 230
    0xe6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_memsz: 230
    0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_align: 0x1000
    // program header 1 at file offset 0x78
    0x51, 0xe5, 0x74, 0x64,                         // p_type: 0x6474e551 = PT_GNU_STACK
    0x06, 0x00, 0x00, 0x00,                         // p_flags: 6 = PF_R | PF_W, no PF_X
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_offset: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_vaddr: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_paddr: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_filesz: 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_memsz: 0
    0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_align: 0x10
    // code at file offset 0xb0 = vaddr 0x4000b0 = e_entry
    0x01, 0x00, 0x60, 0x38, // 4000b0: 38600001  li r3, 1         ; arg0: fd 1 (stdout)
    0x40, 0x00, 0x80, 0x3c, // 4000b4: 3c800040  lis r4, 0x40     ; r4 = 0x400000
    0xd4, 0x00, 0x84, 0x60, // 4000b8: 608400d4  ori r4, r4, 0xd4 ; arg1: msg = 0x4000d4 (absolute)
    0x12, 0x00, 0xa0, 0x38, // 4000bc: 38a00012  li r5, 18        ; arg2: length 18
    0x04, 0x00, 0x00, 0x38, // 4000c0: 38000004  li r0, 4         ; r0 = 4 = SYS_write
    0x02, 0x00, 0x00, 0x44, // 4000c4: 44000002  sc               ; write(1, msg, 18)
    0x00, 0x00, 0x60, 0x38, // 4000c8: 38600000  li r3, 0         ; arg0: status 0
    0xea, 0x00, 0x00, 0x38, // 4000cc: 380000ea  li r0, 234       ; r0 = 234 = SYS_exit_group
    0x02, 0x00, 0x00, 0x44, // 4000d0: 44000002  sc               ; exit_group(0)
    // message at file offset 0xd4 = vaddr 0x4000d4: "azdeploy-probe-ok\n" (18 bytes)
    b'a', b'z', b'd', b'e', b'p', b'l', b'o', b'y', b'-',
    b'p', b'r', b'o', b'b', b'e', b'-', b'o', b'k', b'\n',
];

/// `linux/s390x`: z/Architecture, ELF64 big-endian, 216 bytes.
///
/// Instructions are 2, 4 or 6 bytes: `lghi r, imm16` is `a7 r9 iiii`, `larl r, off` is
/// `c0 r0` then the offset in halfwords (32 bits), `svc n` is `0a nn` with the syscall
/// number as its operand.
#[rustfmt::skip]
const S390X: &[u8] = &[
    // ELF header (64 bytes) at file offset 0x00
    0x7f, b'E', b'L', b'F',                         // e_ident[EI_MAG0..EI_MAG3]
    0x02,                                           // e_ident[EI_CLASS]: 2 = ELFCLASS64
    0x02,                                           // e_ident[EI_DATA]: 2 = ELFDATA2MSB, big-endian
    0x01,                                           // e_ident[EI_VERSION]: 1 = EV_CURRENT
    0x00,                                           // e_ident[EI_OSABI]: 0 = ELFOSABI_SYSV
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_ident[EI_ABIVERSION] and padding: 0
    0x00, 0x02,                                     // e_type: 2 = ET_EXEC
    0x00, 0x16,                                     // e_machine: 22 = EM_S390
    0x00, 0x00, 0x00, 0x01,                         // e_version: 1 = EV_CURRENT
    0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0xb0, // e_entry: 0x4000b0 (file offset 0xb0)
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, // e_phoff: 64, right after this header
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // e_shoff: 0, no section headers
    0x00, 0x00, 0x00, 0x00,                         // e_flags: 0x0
    0x00, 0x40,                                     // e_ehsize: 64
    0x00, 0x38,                                     // e_phentsize: 56
    0x00, 0x02,                                     // e_phnum: 2
    0x00, 0x00,                                     // e_shentsize: 0
    0x00, 0x00,                                     // e_shnum: 0
    0x00, 0x00,                                     // e_shstrndx: 0 = SHN_UNDEF
    // program header 0 at file offset 0x40
    0x00, 0x00, 0x00, 0x01,                         // p_type: 1 = PT_LOAD, the whole file
    0x00, 0x00, 0x00, 0x05,                         // p_flags: 5 = PF_R | PF_X
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_offset: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, // p_vaddr: 0x400000
    0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, // p_paddr: 0x400000
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd8, // p_filesz: 216
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd8, // p_memsz: 216
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, // p_align: 0x1000
    // program header 1 at file offset 0x78
    0x64, 0x74, 0xe5, 0x51,                         // p_type: 0x6474e551 = PT_GNU_STACK
    0x00, 0x00, 0x00, 0x06,                         // p_flags: 6 = PF_R | PF_W, no PF_X
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_offset: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_vaddr: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_paddr: 0x0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_filesz: 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // p_memsz: 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, // p_align: 0x10
    // code at file offset 0xb0 = vaddr 0x4000b0 = e_entry
    0xa7, 0x29, 0x00, 0x01,             // 4000b0: lghi %r2, 1      ; arg0: fd 1 (stdout)
    0xc0, 0x30, 0x00, 0x00, 0x00, 0x09, // 4000b4: larl %r3, .+0x12 ; arg1: msg = . + 2 * 9 = 0x4000c6
    0xa7, 0x49, 0x00, 0x12,             // 4000ba: lghi %r4, 18     ; arg2: length 18
    0x0a, 0x04,                         // 4000be: svc 4            ; write(1, msg, 18); 4 = SYS_write
    0xa7, 0x29, 0x00, 0x00,             // 4000c0: lghi %r2, 0      ; arg0: status 0
    0x0a, 0xf8,                         // 4000c4: svc 248          ; exit_group(0); 248 = SYS_exit_group
    // message at file offset 0xc6 = vaddr 0x4000c6: "azdeploy-probe-ok\n" (18 bytes)
    b'a', b'z', b'd', b'e', b'p', b'l', b'o', b'y', b'-',
    b'p', b'r', b'o', b'b', b'e', b'-', b'o', b'k', b'\n',
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    /// What each probe must be, written down from the ELF spec and the psABIs rather than read
    /// back from the arrays.
    struct Case {
        name: &'static str,
        bytes: &'static [u8],
        elf64: bool,
        big_endian: bool,
        machine: u16,
        flags: u32,
        /// Instruction alignment the entry point must respect.
        insn_align: u64,
        /// `std::env::consts::ARCH` of a host that runs the probe natively (with the same
        /// endianness). Read only by a Linux test.
        #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
        host_arch: &'static str,
        /// The `<arch>` in `qemu-<arch>-static`.
        qemu: &'static str,
    }

    const CASES: &[Case] = &[
        Case {
            name: "x86_64",
            bytes: X86_64,
            elf64: true,
            big_endian: false,
            machine: 62,
            flags: 0,
            insn_align: 1,
            host_arch: "x86_64",
            qemu: "x86_64",
        },
        Case {
            name: "aarch64",
            bytes: AARCH64,
            elf64: true,
            big_endian: false,
            machine: 183,
            flags: 0,
            insn_align: 4,
            host_arch: "aarch64",
            qemu: "aarch64",
        },
        Case {
            name: "armv7",
            bytes: ARMV7,
            elf64: false,
            big_endian: false,
            machine: 40,
            flags: 0x0500_0000,
            insn_align: 4,
            host_arch: "arm",
            qemu: "arm",
        },
        Case {
            name: "riscv64",
            bytes: RISCV64,
            elf64: true,
            big_endian: false,
            machine: 243,
            flags: 0,
            insn_align: 4,
            host_arch: "riscv64",
            qemu: "riscv64",
        },
        Case {
            name: "ppc64le",
            bytes: PPC64LE,
            elf64: true,
            big_endian: false,
            machine: 21,
            flags: 2,
            insn_align: 4,
            host_arch: "powerpc64",
            qemu: "ppc64le",
        },
        Case {
            name: "s390x",
            bytes: S390X,
            elf64: true,
            big_endian: true,
            machine: 22,
            flags: 0,
            insn_align: 2,
            host_arch: "s390x",
            qemu: "s390x",
        },
    ];

    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const PT_LOAD: u32 = 1;
    const PT_GNU_STACK: u32 = 0x6474_e551;
    const PF_X: u32 = 1;
    const PF_W: u32 = 2;
    const PF_R: u32 = 4;

    fn expected_stdout() -> Vec<u8> {
        format!("{PROBE_OUTPUT}\n").into_bytes()
    }

    /// Reads fixed-size fields in the file's byte order.
    struct Fields<'a> {
        bytes: &'a [u8],
        big_endian: bool,
    }

    impl Fields<'_> {
        fn take<const N: usize>(&self, at: u64) -> [u8; N] {
            let at = usize::try_from(at).unwrap();
            let mut b: [u8; N] = self.bytes[at..at + N].try_into().unwrap();
            if self.big_endian {
                b.reverse();
            }
            b
        }
        fn u16(&self, at: u64) -> u16 {
            u16::from_le_bytes(self.take(at))
        }
        fn u32(&self, at: u64) -> u32 {
            u32::from_le_bytes(self.take(at))
        }
        fn u64(&self, at: u64) -> u64 {
            u64::from_le_bytes(self.take(at))
        }
        /// An address or offset: 8 bytes in ELF64, 4 in ELF32.
        fn word(&self, at: u64, elf64: bool) -> u64 {
            if elf64 {
                self.u64(at)
            } else {
                u64::from(self.u32(at))
            }
        }
    }

    struct Segment {
        p_type: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
        align: u64,
    }

    fn segments(f: &Fields, elf64: bool, phoff: u64, phentsize: u64, phnum: u64) -> Vec<Segment> {
        (0..phnum)
            .map(|i| {
                let at = phoff + i * phentsize;
                if elf64 {
                    Segment {
                        p_type: f.u32(at),
                        flags: f.u32(at + 4),
                        offset: f.u64(at + 8),
                        vaddr: f.u64(at + 16),
                        filesz: f.u64(at + 32),
                        memsz: f.u64(at + 40),
                        align: f.u64(at + 48),
                    }
                } else {
                    Segment {
                        p_type: f.u32(at),
                        offset: u64::from(f.u32(at + 4)),
                        vaddr: u64::from(f.u32(at + 8)),
                        filesz: u64::from(f.u32(at + 16)),
                        memsz: u64::from(f.u32(at + 20)),
                        flags: f.u32(at + 24),
                        align: u64::from(f.u32(at + 28)),
                    }
                }
            })
            .collect()
    }

    #[test]
    fn each_probe_is_a_small_static_elf_executable_for_its_machine() {
        for c in CASES {
            let b = c.bytes;
            let n = c.name;
            let len = b.len() as u64;
            assert!(b.len() < 512, "{n}: {} bytes", b.len());

            // e_ident
            assert_eq!(&b[0..4], b"\x7fELF", "{n}: magic");
            assert_eq!(b[4], if c.elf64 { 2 } else { 1 }, "{n}: EI_CLASS");
            assert_eq!(b[5], if c.big_endian { 2 } else { 1 }, "{n}: EI_DATA");
            assert_eq!(b[6], 1, "{n}: EI_VERSION");
            assert_eq!(b[7], 0, "{n}: EI_OSABI");
            assert_eq!(&b[8..16], &[0; 8], "{n}: EI_ABIVERSION and padding");

            let f = Fields {
                bytes: b,
                big_endian: c.big_endian,
            };
            let w = if c.elf64 { 8 } else { 4 };
            // e_entry, e_phoff and e_shoff are words; what follows them shifts with the class.
            let (entry, phoff, shoff) = (
                f.word(24, c.elf64),
                f.word(24 + w, c.elf64),
                f.word(24 + 2 * w, c.elf64),
            );
            let rest = 24 + 3 * w;
            let (flags, ehsize, phentsize, phnum) = (
                f.u32(rest),
                f.u16(rest + 4),
                f.u16(rest + 6),
                f.u16(rest + 8),
            );
            let (shentsize, shnum, shstrndx) =
                (f.u16(rest + 10), f.u16(rest + 12), f.u16(rest + 14));

            assert_eq!(f.u16(16), 2, "{n}: e_type must be ET_EXEC");
            assert_eq!(f.u16(18), c.machine, "{n}: e_machine");
            assert_eq!(f.u32(20), 1, "{n}: e_version");
            assert_eq!(flags, c.flags, "{n}: e_flags");
            assert_eq!(ehsize, if c.elf64 { 64 } else { 52 }, "{n}: e_ehsize");
            assert_eq!(
                u64::from(ehsize),
                rest + 16,
                "{n}: header size vs. fields read"
            );
            assert_eq!(phentsize, if c.elf64 { 56 } else { 32 }, "{n}: e_phentsize");
            assert_eq!(
                phoff,
                u64::from(ehsize),
                "{n}: program headers follow the ELF header"
            );
            assert_eq!(
                (shoff, shentsize, shnum, shstrndx),
                (0, 0, 0, 0),
                "{n}: no section headers"
            );
            let headers_end = phoff + u64::from(phentsize) * u64::from(phnum);
            assert!(headers_end < len, "{n}: program headers fit in the file");

            let segs = segments(&f, c.elf64, phoff, phentsize.into(), phnum.into());
            for s in &segs {
                assert!(
                    s.p_type != PT_INTERP && s.p_type != PT_DYNAMIC,
                    "{n}: static, no interpreter"
                );
                assert!(
                    s.p_type == PT_LOAD || s.p_type == PT_GNU_STACK,
                    "{n}: unexpected p_type {:#x}",
                    s.p_type
                );
            }
            let stacks: Vec<&Segment> = segs.iter().filter(|s| s.p_type == PT_GNU_STACK).collect();
            assert_eq!(stacks.len(), 1, "{n}: one PT_GNU_STACK");
            assert_eq!(
                stacks[0].flags,
                PF_R | PF_W,
                "{n}: the stack is not executable"
            );

            let loads: Vec<&Segment> = segs.iter().filter(|s| s.p_type == PT_LOAD).collect();
            assert_eq!(loads.len(), 1, "{n}: exactly one PT_LOAD");
            let load = loads[0];
            assert_eq!(load.flags, PF_R | PF_X, "{n}: PT_LOAD is R+X, not writable");
            assert_eq!(load.offset, 0, "{n}: PT_LOAD maps the file from its start");
            assert_eq!(
                (load.filesz, load.memsz),
                (len, len),
                "{n}: PT_LOAD covers exactly the file"
            );
            assert!(load.vaddr >= 0x10000, "{n}: above vm.mmap_min_addr");
            assert_eq!(
                load.vaddr % 0x10000,
                0,
                "{n}: p_vaddr aligned for pages up to 64 KiB"
            );
            assert!(load.align.is_power_of_two(), "{n}: p_align");
            assert_eq!(
                load.vaddr % load.align,
                load.offset % load.align,
                "{n}: p_vaddr ≡ p_offset"
            );

            assert!(
                entry >= load.vaddr + headers_end,
                "{n}: entry {entry:#x} is past the headers"
            );
            assert!(
                entry < load.vaddr + load.filesz,
                "{n}: entry {entry:#x} is inside the segment"
            );
            assert_eq!(entry % c.insn_align, 0, "{n}: entry {entry:#x} is aligned");

            // The message is the last 18 bytes, after the code.
            let msg = expected_stdout();
            assert!(b.ends_with(&msg), "{n}: ends with the message");
            let msg_at = len - msg.len() as u64;
            assert!(
                entry - load.vaddr < msg_at,
                "{n}: code comes before the message"
            );
        }
    }

    #[test]
    fn probes_are_distinct() {
        for (i, a) in CASES.iter().enumerate() {
            for b in &CASES[i + 1..] {
                assert_ne!(a.bytes, b.bytes, "{} vs {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn for_arch_takes_docker_platform_names() {
        let cases = [
            ("amd64", None, Some(X86_64)),
            ("amd64", Some("v2"), Some(X86_64)),
            ("amd64", Some("v3"), Some(X86_64)),
            ("arm64", None, Some(AARCH64)),
            ("arm64", Some("v8"), Some(AARCH64)),
            ("arm", None, Some(ARMV7)),
            ("arm", Some("v5"), Some(ARMV7)),
            ("arm", Some("v6"), Some(ARMV7)),
            ("arm", Some("v7"), Some(ARMV7)),
            ("arm", Some("v8"), Some(ARMV7)),
            ("riscv64", None, Some(RISCV64)),
            ("ppc64le", None, Some(PPC64LE)),
            ("s390x", None, Some(S390X)),
            ("arm", Some("v4"), None),
            ("386", None, None),
            ("ppc64", None, None),
            ("mips64le", None, None),
            ("loong64", None, None),
            ("", None, None),
        ];
        for (arch, variant, want) in cases {
            assert_eq!(
                for_arch(arch, variant),
                want,
                "for_arch({arch:?}, {variant:?})"
            );
        }
        assert_eq!(PROBE_OUTPUT, "azdeploy-probe-ok");
    }

    fn skip(why: std::fmt::Arguments) {
        let _ = writeln!(std::io::stderr(), "probe_elf: skipped: {why}");
    }

    /// A temp dir next to the test binary: /tmp may be mounted noexec, the directory we run from
    /// is not. Falls back to the default temp dir.
    fn exec_dir() -> tempfile::TempDir {
        std::env::current_exe()
            .ok()
            .and_then(|exe| {
                let dir = exe.parent()?.to_path_buf();
                tempfile::Builder::new()
                    .prefix("probe-elf-")
                    .tempdir_in(dir)
                    .ok()
            })
            .unwrap_or_else(|| tempfile::tempdir().expect("temp dir"))
    }

    #[cfg(unix)]
    fn write_probe(dir: &Path, bytes: &[u8]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("probe");
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Runs `cmd`, retrying "text file busy": a child forked by another test thread while we
    /// still had the probe open for writing holds that fd until it execs.
    fn output(cmd: &mut Command) -> Output {
        let mut tries = 0;
        loop {
            match cmd.output() {
                // ETXTBSY is 26 on Linux and the BSDs.
                Err(e) if e.raw_os_error() == Some(26) && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("running {cmd:?}: {e}"),
                Ok(out) => return out,
            }
        }
    }

    fn assert_probe_ok(what: &str, out: &Output) {
        assert!(
            out.status.success(),
            "{what}: {}, stdout {:?}, stderr {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.stdout,
            expected_stdout(),
            "{what}: stdout {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// On x86_64 Linux this runs the x86_64 probe (and so on for the other architectures we
    /// have a probe for).
    #[test]
    #[cfg(target_os = "linux")]
    fn the_host_probe_runs_natively() {
        let host = std::env::consts::ARCH;
        let big_endian = cfg!(target_endian = "big");
        let Some(case) = CASES
            .iter()
            .find(|c| c.host_arch == host && c.big_endian == big_endian)
        else {
            skip(format_args!("no probe runs natively on {host}"));
            return;
        };
        let dir = exec_dir();
        let path = write_probe(dir.path(), case.bytes);
        let out = output(&mut Command::new(&path));
        assert_probe_ok(&format!("{} natively", case.name), &out);
        assert!(
            out.stderr.is_empty(),
            "stderr {:?}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn on_path(name: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    }

    #[test]
    #[cfg(unix)]
    fn each_probe_runs_under_qemu_user_when_installed() {
        for c in CASES {
            let names = [
                format!("qemu-{}-static", c.qemu),
                format!("qemu-{}", c.qemu),
            ];
            let Some(qemu) = names.iter().find_map(|name| on_path(name)) else {
                skip(format_args!(
                    "{}: neither {} nor {} is on PATH",
                    c.name, names[0], names[1]
                ));
                continue;
            };
            let dir = exec_dir();
            let path = write_probe(dir.path(), c.bytes);
            let out = output(Command::new(&qemu).arg(&path));
            assert_probe_ok(&format!("{} under {}", c.name, qemu.display()), &out);
        }
    }

    #[test]
    #[cfg(unix)]
    fn readelf_reads_every_probe_without_complaint() {
        let Some(readelf) = on_path("readelf") else {
            skip(format_args!("readelf is not on PATH (Debian: binutils)"));
            return;
        };
        for c in CASES {
            let dir = exec_dir();
            let path = write_probe(dir.path(), c.bytes);
            let out = output(Command::new(&readelf).args(["-h", "-l", "-W"]).arg(&path));
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stderr.trim().is_empty(),
                "{}: {stderr}",
                c.name
            );
            assert!(
                stdout.contains("EXEC (Executable file)"),
                "{}: {stdout}",
                c.name
            );
            assert!(!stdout.contains("INTERP"), "{}: {stdout}", c.name);
        }
    }
}
