/**
 * CLIP, as Stable Diffusion pipelines and image/text search use it:
 * {@link dev.surpass.model.clip.ClipTextConfig} / {@link dev.surpass.model.clip.ClipVisionConfig}
 * (config.json, one tower's or a full CLIP config's text_config / vision_config),
 * {@link dev.surpass.model.clip.ClipTextModel} (HF {@code CLIPTextModel} /
 * {@code CLIPTextModelWithProjection}: last hidden state, pooled end token, projected embeds, and the
 * clip-skip hidden states diffusers feeds the UNet), {@link dev.surpass.model.clip.ClipVisionModel}
 * (HF {@code CLIPVisionModel(WithProjection)}), {@link dev.surpass.model.clip.ClipModel} (both
 * towers and the image–text logits), {@link dev.surpass.model.clip.ClipImageProcessor} (the
 * processor's rescale and normalisation) and {@link dev.surpass.model.clip.ClipForward} (the
 * {@code surpass forward} family "clip"). Both towers share one layer stack built from the layers
 * ops and the fused attention. The tokenizer is {@link dev.surpass.text.ClipTokenizer}.
 */
package dev.surpass.model.clip;
