/**
 * Tokenizers read from Hugging Face {@code tokenizer.json} files: {@link dev.surpass.text.Tokenizer}
 * (the interface and {@code load}), {@link dev.surpass.text.BpeTokenizer} (byte-level BPE: GPT-2,
 * GPT-NeoX / Mamba, Llama 3; SentencePiece-style BPE: Llama 2, Mistral, Gemma),
 * {@link dev.surpass.text.WordPieceTokenizer} (BERT), {@link dev.surpass.text.UnigramTokenizer}
 * (SentencePiece Unigram: XLM-RoBERTa, T5) and {@link dev.surpass.text.StreamDecoder} (text of ids that arrive one
 * at a time, holding back incomplete UTF-8).
 */
package dev.surpass.text;
