/**
 * Mamba's sequence ops: the selective scan (Mamba-1, with initial state and variable-length packed
 * batches), its one-token decode step, and the depthwise causal conv1d with its decode step.
 *
 * <p>Entries: {@link dev.surpass.scan.SelectiveScan} and {@link dev.surpass.scan.CausalConv1d}.
 * Each validates its arguments and runs where the inputs live: {@code Reference*} is the float64
 * sequential oracle, {@code Vector*} the Vector API CPU version, {@code Cuda*} the launchers of
 * {@code kernels/mamba/} (fatbin {@code mamba}). Semantics follow mamba_ssm's
 * {@code selective_scan_ref} to the letter (reference/kernels-and-checkpoints.md §4.2).
 */
package dev.surpass.scan;
