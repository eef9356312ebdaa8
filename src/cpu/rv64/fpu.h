/* fpu.h — IEEE-754 single/double arithmetic with RISC-V semantics: rounding modes (rm 0..4 =
 * RNE, RTZ, RDN, RUP, RMM), exception flags (fflags bits), NaN boxing of singles in 64-bit
 * f registers and the canonical NaN. Values are raw register bits; flags are OR-ed into *fl. */
#ifndef KILN_CPU_RV64_FPU_H
#define KILN_CPU_RV64_FPU_H
#include <stdint.h>

enum { FPU_NX = 1, FPU_UF = 2, FPU_OF = 4, FPU_DZ = 8, FPU_NV = 16 };
enum { FPU_RNE, FPU_RTZ, FPU_RDN, FPU_RUP, FPU_RMM };

#define FPU_CANON_S 0x7fc00000u
#define FPU_CANON_D 0x7ff8000000000000ull

static inline uint64_t fpu_box_s(uint32_t v) { return 0xffffffff00000000ull | v; }

#define FPU_DECL2(n) uint64_t fpu_##n##_s(uint64_t a, uint64_t b, int rm, unsigned *fl); \
                     uint64_t fpu_##n##_d(uint64_t a, uint64_t b, int rm, unsigned *fl);
FPU_DECL2(add) FPU_DECL2(sub) FPU_DECL2(mul) FPU_DECL2(div)
#define FPU_DECL3(n) uint64_t fpu_##n##_s(uint64_t a, uint64_t b, uint64_t c, int rm, unsigned *fl); \
                     uint64_t fpu_##n##_d(uint64_t a, uint64_t b, uint64_t c, int rm, unsigned *fl);
FPU_DECL3(madd) FPU_DECL3(msub) FPU_DECL3(nmsub) FPU_DECL3(nmadd)
#define FPU_DECL1(n) uint64_t fpu_##n##_s(uint64_t a, int rm, unsigned *fl); \
                     uint64_t fpu_##n##_d(uint64_t a, int rm, unsigned *fl);
/* sqrt, and float → integer (results sign-extended to 64 bits, saturating, NaN → max) */
FPU_DECL1(sqrt) FPU_DECL1(cvt_w) FPU_DECL1(cvt_wu) FPU_DECL1(cvt_l) FPU_DECL1(cvt_lu)
/* integer → float: the integer is the low 32 (w, wu) or all 64 (l, lu) bits of x */
uint64_t fpu_cvt_s_w(uint64_t x, int rm, unsigned *fl);
uint64_t fpu_cvt_s_wu(uint64_t x, int rm, unsigned *fl);
uint64_t fpu_cvt_s_l(uint64_t x, int rm, unsigned *fl);
uint64_t fpu_cvt_s_lu(uint64_t x, int rm, unsigned *fl);
uint64_t fpu_cvt_d_w(uint64_t x, int rm, unsigned *fl);
uint64_t fpu_cvt_d_wu(uint64_t x, int rm, unsigned *fl);
uint64_t fpu_cvt_d_l(uint64_t x, int rm, unsigned *fl);
uint64_t fpu_cvt_d_lu(uint64_t x, int rm, unsigned *fl);
uint64_t fpu_cvt_s_d(uint64_t a, int rm, unsigned *fl);
uint64_t fpu_cvt_d_s(uint64_t a, int rm, unsigned *fl);
/* min/max return an f register value; eq/lt/le return 0 or 1 */
#define FPU_DECLC(n) uint64_t fpu_##n##_s(uint64_t a, uint64_t b, unsigned *fl); \
                     uint64_t fpu_##n##_d(uint64_t a, uint64_t b, unsigned *fl);
FPU_DECLC(min) FPU_DECLC(max) FPU_DECLC(eq) FPU_DECLC(lt) FPU_DECLC(le)
#define FPU_DECLS(n) uint64_t fpu_##n##_s(uint64_t a, uint64_t b); uint64_t fpu_##n##_d(uint64_t a, uint64_t b);
FPU_DECLS(sgnj) FPU_DECLS(sgnjn) FPU_DECLS(sgnjx)
/* the fclass bit mask (bit 0 = -inf … bit 9 = quiet NaN) */
uint64_t fpu_class_s(uint64_t a);
uint64_t fpu_class_d(uint64_t a);

#endif
