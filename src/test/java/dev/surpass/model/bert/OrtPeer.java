package dev.surpass.model.bert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.util.Arrays;
import java.util.Map;

/**
 * ONNX Runtime running a BERT export (inputs input_ids, attention_mask, token_type_ids; output 0
 * last_hidden_state). Kept apart from the test classes so that they load without ONNX Runtime.
 */
final class OrtPeer implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtSession session;

    OrtPeer(byte[] onnx, int threads) throws OrtException {
        env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(threads);
            session = env.createSession(onnx, o);
        }
    }

    /** last_hidden_state {@code [B][N][hidden]} for padded ids and their 0/1 mask (token types 0). */
    float[][][] lastHiddenState(int[][] ids, int[][] mask) throws OrtException {
        long[][] i = new long[ids.length][], m = new long[ids.length][], t = new long[ids.length][];
        for (int s = 0; s < ids.length; s++) {
            i[s] = Arrays.stream(ids[s]).asLongStream().toArray();
            m[s] = Arrays.stream(mask[s]).asLongStream().toArray();
            t[s] = new long[ids[s].length];
        }
        try (OnnxTensor a = OnnxTensor.createTensor(env, i); OnnxTensor b = OnnxTensor.createTensor(env, m);
             OnnxTensor c = OnnxTensor.createTensor(env, t);
             OrtSession.Result r = session.run(Map.of("input_ids", a, "attention_mask", b, "token_type_ids", c))) {
            return (float[][][]) r.get(0).getValue();
        }
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
