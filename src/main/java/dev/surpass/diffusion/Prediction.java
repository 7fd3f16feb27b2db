package dev.surpass.diffusion;

/**
 * What the model predicts (diffusers' {@code prediction_type}). With {@code a = √ᾱ_t},
 * {@code b = √(1−ᾱ_t)} and {@code x_t = a·x0 + b·ε}:
 * <ul>
 *   <li>{@link #EPSILON}: the noise; {@code x0 = (x_t − b·ε)/a}.
 *   <li>{@link #V}: {@code v = a·ε − b·x0}; {@code x0 = a·x_t − b·v}, {@code ε = a·v + b·x_t}.
 *   <li>{@link #SAMPLE}: x0 itself; {@code ε = (x_t − a·x0)/b}.
 * </ul>
 */
public enum Prediction { EPSILON, V, SAMPLE }
