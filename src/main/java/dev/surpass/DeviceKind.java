package dev.surpass;

/** Where a {@link Device}'s memory and compute live. */
public enum DeviceKind {
    /** Host memory; ops run as multithreaded Vector API code. */
    CPU,
    /** An NVIDIA GPU reached through the CUDA driver API (Panama FFM). */
    CUDA
}
