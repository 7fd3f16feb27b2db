/**
 * surpass: GPU kernels for the Transformer and its surpassers (Mamba, diffusion, DiT) on the JVM.
 *
 * <p>CUDA is reached through Panama FFM ({@code java.lang.foreign}); every op has a Vector API CPU
 * twin and a plain float64 reference. Run with {@code --add-modules jdk.incubator.vector} and
 * {@code --enable-native-access=dev.surpass}.
 */
module dev.surpass {
    requires jdk.incubator.vector;
    requires java.logging;
    requires java.desktop; // javax.imageio for `surpass attention-map`
    requires com.fasterxml.jackson.databind;
    requires info.picocli;

    exports dev.surpass;
    exports dev.surpass.cuda;
    exports dev.surpass.layers;
    exports dev.surpass.io;
    exports dev.surpass.attention;
    exports dev.surpass.diffusion;
    exports dev.surpass.scan;
    exports dev.surpass.model.mamba;
    exports dev.surpass.model.dit;
    exports dev.surpass.model.vae;
    exports dev.surpass.model.unet;
    exports dev.surpass.model.conv;
    exports dev.surpass.model.decoder;
    exports dev.surpass.model.gpt2;
    exports dev.surpass.model.llama;
    exports dev.surpass.model.neox;
    exports dev.surpass.model.phi;
    exports dev.surpass.model.bert;
    exports dev.surpass.model.clip;
    exports dev.surpass.model.t5;
    exports dev.surpass.model.sd;
    exports dev.surpass.text;

    opens dev.surpass.cli to info.picocli;
}
