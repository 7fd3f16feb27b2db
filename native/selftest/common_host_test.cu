// common_host_test.cu — host-side self-test of kernels/common/*.cuh, run by build-kernels.sh on
// the build machine (no GPU needed): Philox4x32-10 against the Random123 known-answer vectors,
// and fp32 → fp16/bf16 rounding to nearest even on ties, NaN and overflow.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "common/dtype.cuh"
#include "common/philox.cuh"

static int failures = 0;

static void expect_u32(const char* what, uint32_t got, uint32_t want) {
    if (got != want) {
        std::printf("FAIL %s: got %08x want %08x\n", what, got, want);
        ++failures;
    }
}

static uint16_t bits(__nv_bfloat16 v) { uint16_t b; std::memcpy(&b, &v, 2); return b; }
static uint16_t bits(__half v) { uint16_t b; std::memcpy(&b, &v, 2); return b; }
static float f32(uint32_t b) { float f; std::memcpy(&f, &b, 4); return f; }

int main() {
    using namespace surpass;
    // Random123 kat_vectors, philox4x32 with 10 rounds.
    struct Kat { uint4 c; uint2 k; uint4 want; } kats[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
        {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu},
         {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
        {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u},
         {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
    };
    for (const Kat& t : kats) {
        const uint4 r = philox4x32_10(t.c, t.k);
        expect_u32("philox.x", r.x, t.want.x);
        expect_u32("philox.y", r.y, t.want.y);
        expect_u32("philox.z", r.z, t.want.z);
        expect_u32("philox.w", r.w, t.want.w);
    }
    expect_u32("uniform(max) < 1", philox_uniform(0xffffffffu) < 1.0f, 1);
    expect_u32("uniform_pos(0) > 0", philox_uniform_pos(0u) > 0.0f, 1);

    // bf16: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 → even (1.0); 1 + 3·2^-8 → 1 + 2^-6.
    expect_u32("bf16 tie down", bits(__float2bfloat16_rn(f32(0x3f808000u))), 0x3f80);
    expect_u32("bf16 tie up", bits(__float2bfloat16_rn(f32(0x3f818000u))), 0x3f82);
    expect_u32("bf16 above tie", bits(__float2bfloat16_rn(f32(0x3f808001u))), 0x3f81);
    expect_u32("bf16 NaN", (bits(__float2bfloat16_rn(NAN)) & 0x7fc0) == 0x7fc0, 1);
    expect_u32("bf16 overflow", bits(__float2bfloat16_rn(f32(0x7f7fffffu))), 0x7f80);
    // fp16: 1 + 2^-11 ties to 1.0; 1 + 3·2^-11 ties up to 1 + 2^-9; 65520 overflows to inf.
    expect_u32("f16 tie down", bits(__float2half_rn(1.0f + std::ldexp(1.0f, -11))), 0x3c00);
    expect_u32("f16 tie up", bits(__float2half_rn(1.0f + 3 * std::ldexp(1.0f, -11))), 0x3c02);
    expect_u32("f16 overflow", bits(__float2half_rn(65520.0f)), 0x7c00);
    expect_u32("f16 max", bits(__float2half_rn(65504.0f)), 0x7bff);

    if (failures) {
        std::printf("common_host_test: %d failure(s)\n", failures);
        return 1;
    }
    std::printf("common_host_test: ok (philox KAT, fp16/bf16 rounding)\n");
    return 0;
}
