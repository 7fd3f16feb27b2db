/**
 * The T5 encoder ({@code transformers.T5EncoderModel}, the encoder half of t5 / mt5 / flan-t5 /
 * t5-v1_1 checkpoints): the text encoder of sentence-t5 / GTR-T5 and of PixArt, SD3 and Flux.
 * {@link dev.surpass.model.t5.T5Config} reads config.json, {@link dev.surpass.model.t5.T5Encoder}
 * loads the weights and runs the forward pass on either device, {@link dev.surpass.model.t5.T5Forward}
 * is its {@code surpass forward} and {@code surpass generate} family.
 * {@link dev.surpass.model.t5.T5ForConditionalGeneration} adds the decoder and the LM head
 * ({@code transformers.T5ForConditionalGeneration}): teacher-forced logits and generation (greedy,
 * sampled, beam search; {@link dev.surpass.model.t5.GenerationOptions}).
 */
package dev.surpass.model.t5;
