/**
 * Fused attention: {@link dev.surpass.attention.Attention} (prefill, varlen, paged decode,
 * attention maps), its {@link dev.surpass.attention.AttentionOptions}, the
 * {@link dev.surpass.attention.PagedKvCache}, and the float64
 * {@link dev.surpass.attention.ReferenceAttention} every implementation is checked against.
 */
package dev.surpass.attention;
