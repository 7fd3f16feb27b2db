/**
 * CLIP's text encoder, as Stable Diffusion pipelines and image/text search use it:
 * {@link dev.surpass.model.clip.ClipTextConfig} (config.json, a text config or a full CLIP config's
 * text_config), {@link dev.surpass.model.clip.ClipTextModel} (HF {@code CLIPTextModel} /
 * {@code CLIPTextModelWithProjection}: last hidden state, pooled end token, projected embeds, and
 * the clip-skip hidden states diffusers feeds the UNet) and
 * {@link dev.surpass.model.clip.ClipForward} (the {@code surpass forward} family "clip"). The
 * tokenizer is {@link dev.surpass.text.ClipTokenizer}.
 */
package dev.surpass.model.clip;
