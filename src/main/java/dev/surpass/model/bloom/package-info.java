/**
 * BLOOM decoders (HF {@code BloomForCausalLM}: BigScience's BLOOM and BLOOMZ): ALiBi attention on the
 * fused kernels, {@link dev.surpass.model.bloom.BloomConfig}, {@link dev.surpass.model.bloom.Bloom}
 * and the {@code surpass forward} / {@code generate} family {@link dev.surpass.model.bloom.BloomFamily}.
 */
package dev.surpass.model.bloom;
