/**
 * The BERT encoder ({@link dev.surpass.model.bert.BertModel}: HF safetensors or the initializers of
 * an ONNX export; RoBERTa, XLM-R, DistilBERT and MPNet checkpoints too), sentence embeddings (sentence-transformers' pooling, Dense and Normalize modules over any
 * {@link dev.surpass.model.bert.SentenceEncoder}, a decoder LLM's included) and all-MiniLM-L6-v2 from
 * its Maven artifact.
 */
package dev.surpass.model.bert;
