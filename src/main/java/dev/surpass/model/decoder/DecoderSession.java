package dev.surpass.model.decoder;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.PagedKvCache;
import dev.surpass.layers.Argmax;
import dev.surpass.model.mamba.LogitsRules;
import dev.surpass.model.mamba.Sampling;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Continuous batching over a {@link DecoderModel}: requests join ({@link #add}) and leave
 * ({@link #remove}, or by finishing) between steps, and each {@link #step} advances every live
 * request by one token.
 *
 * <p>A step first runs one decode pass over the requests already prefilled (each feeds its last
 * token; K/V are appended to the paged cache and {@link Attention#decode} attends over it), then one
 * prefill pass over the requests added since the last step, packed through the varlen fused
 * attention ({@link Attention#prefillVarlen}, causal per prompt) while their K/V are written into
 * the cache; each of those yields its first token. A request whose model asks for it
 * ({@link DecoderModel#recomputeCacheAt}: Phi-3's LongRoPE) is run whole again through the prefill
 * pass on the step its sequence first passes that length, its cache rewritten, as HF's generate
 * does. Each sequence's RoPE sees its own length ({@link DecoderModel#logits(int[], int[], int[], int[], LayerAttention)}).
 * A request finishes at one of its stop ids (which
 * is emitted), after {@code maxNewTokens} tokens, or when its sequence fills the model's context;
 * its cache pages are freed at once.
 *
 * <p>Sampling per request: the logits rules ({@link LogitsRules}: HF's repetition penalty, no-repeat
 * n-grams and min new tokens over the prompt and the generated tokens), then
 * {@link Sampling#pick} (temperature → top-k → top-p, greedy at temperature 0) with the request's
 * own random stream seeded by its {@code Sampling.seed()}, so a request gets the same tokens
 * whatever else is in the batch.
 *
 * <p>The session owns one {@link PagedKvCache} (F32) per layer, sized at creation; {@link #add}
 * reserves the pages a request can ever need and refuses one that does not fit. {@link #close}
 * frees the caches; later use throws {@link IllegalStateException}. The model stays the caller's.
 * Thread rules: the methods are synchronized; listeners run on the stepping thread.
 */
public final class DecoderSession implements AutoCloseable {
    /** Receives each token as soon as it is picked; {@code last} is true for a request's final token. */
    @FunctionalInterface
    public interface TokenListener {
        void onToken(int requestId, int token, boolean last);
    }

    /**
     * One generation request.
     *
     * @param prompt            token ids, at least one, all in the vocabulary
     * @param maxNewTokens      at least 1
     * @param sampling          how tokens are picked (its seed seeds this request's stream)
     * @param rules             HF's repetition penalty, no-repeat n-grams and min new tokens over the prompt and the
     *                          tokens so far ({@link LogitsRules}; {@link LogitsRules#NONE} for none)
     * @param stopIds           ids that end the request (emitted), or null
     * @param listener          streaming callback, or null
     */
    public record Request(int[] prompt, int maxNewTokens, Sampling sampling, LogitsRules rules, int[] stopIds,
                          TokenListener listener) {
        public Request {
            if (prompt == null || prompt.length == 0) throw new IllegalArgumentException("request: prompt is null or empty");
            prompt = prompt.clone();
            if (maxNewTokens < 1) throw new IllegalArgumentException("request: maxNewTokens is " + maxNewTokens + "; expected >= 1");
            if (sampling == null) throw new IllegalArgumentException("request: sampling is null");
            if (rules == null) throw new IllegalArgumentException("request: rules is null (LogitsRules.NONE for none)");
            stopIds = stopIds == null ? new int[0] : stopIds.clone();
        }

        /** Only HF's {@code repetition_penalty} (1 for off, else &gt; 0) as the logits rule. */
        public Request(int[] prompt, int maxNewTokens, Sampling sampling, double repetitionPenalty, int[] stopIds, TokenListener listener) {
            this(prompt, maxNewTokens, sampling, LogitsRules.repetitionPenalty(Sampling.checkPenalty("request", repetitionPenalty)), stopIds, listener);
        }

        /** The repetition penalty of {@link #rules}. */
        public double repetitionPenalty() {
            return rules.repetitionPenalty();
        }

        /** Greedy, no rules, no stop ids, no listener. */
        public static Request greedy(int[] prompt, int maxNewTokens) {
            return new Request(prompt, maxNewTokens, Sampling.greedy(), LogitsRules.NONE, null, null);
        }
    }

    private static final class State {
        final int id;
        final Request req;
        final Random rng;
        final int pages;
        int[] out;
        int count;
        int[] seq; // per layer cache sequence id; null before prefill and after release
        boolean finished;
        boolean releasedPages;

        State(int id, Request req, int pages) {
            this.id = id;
            this.req = req;
            this.rng = req.sampling().newRandom();
            this.pages = pages;
            this.out = new int[Math.min(req.maxNewTokens(), 64)];
        }

        int lastToken() {
            return count == 0 ? req.prompt()[req.prompt().length - 1] : out[count - 1];
        }

        /** The prompt and the tokens generated so far. */
        int[] tokens() {
            int[] p = req.prompt(), all = Arrays.copyOf(p, p.length + count);
            System.arraycopy(out, 0, all, p.length, count);
            return all;
        }
    }

    private final DecoderModel model;
    private final PagedKvCache[] caches;
    private final int pageSize;
    private final int totalPages;
    private int reservedPages;
    private int nextId;
    private final Map<Integer, State> states = new LinkedHashMap<>();
    private boolean closed;

    private DecoderSession(DecoderModel model, PagedKvCache[] caches, int pageSize, int totalPages) {
        this.model = model;
        this.caches = caches;
        this.pageSize = pageSize;
        this.totalPages = totalPages;
    }

    /**
     * A session over {@code model} whose cache holds {@code maxTokens} tokens (prompts plus
     * generated, over all live requests) in pages of {@code pageSize}.
     */
    public static DecoderSession create(DecoderModel model, int maxTokens, int pageSize) {
        if (model == null) throw new IllegalArgumentException("DecoderSession.create: model is null");
        if (maxTokens < 1) throw new IllegalArgumentException("DecoderSession.create: maxTokens is " + maxTokens + "; expected >= 1");
        if (pageSize < 1) throw new IllegalArgumentException("DecoderSession.create: pageSize is " + pageSize + "; expected >= 1");
        int pages = (int) Math.min(Integer.MAX_VALUE, ((long) maxTokens + pageSize - 1) / pageSize);
        PagedKvCache[] caches = new PagedKvCache[model.numLayers()];
        try {
            for (int l = 0; l < caches.length; l++) {
                caches[l] = PagedKvCache.create(model.device(), DType.F32, pages, pageSize, model.numKvHeads(), model.headDim());
            }
        } catch (RuntimeException | Error e) {
            for (PagedKvCache c : caches) if (c != null) c.close();
            throw e;
        }
        return new DecoderSession(model, caches, pageSize, pages);
    }

    /**
     * Queues a request; it is prefilled (and gets its first token) at the next {@link #step}.
     *
     * @return its id
     * @throws IllegalArgumentException for an id outside the vocabulary or a prompt longer than the
     *     model's context
     * @throws IllegalStateException "session full: …" when the cache cannot reserve its pages
     */
    public synchronized int add(Request request) {
        ensureOpen();
        if (request == null) throw new IllegalArgumentException("DecoderSession.add: request is null");
        int[] p = request.prompt();
        int vocab = model.vocabSize();
        for (int t = 0; t < p.length; t++) {
            if (p[t] < 0 || p[t] >= vocab) {
                throw new IllegalArgumentException("DecoderSession.add: prompt[" + t + "] = " + p[t] + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        if (p.length > model.maxPositions()) {
            throw new IllegalArgumentException("DecoderSession.add: the prompt has " + p.length + " tokens but the model's context is "
                    + model.maxPositions());
        }
        long cached = Math.min((long) p.length + request.maxNewTokens() - 1, model.maxPositions());
        int pages = (int) ((cached + pageSize - 1) / pageSize);
        if (reservedPages + pages > totalPages) {
            throw new IllegalStateException("session full: the request needs " + pages + " page(s) of " + pageSize + " tokens but only "
                    + (totalPages - reservedPages) + " of " + totalPages + " are unreserved; finish or remove requests, or create a larger session");
        }
        reservedPages += pages;
        int id = nextId++;
        states.put(id, new State(id, request, pages));
        return id;
    }

    /**
     * Removes a request: a live one is cancelled and its cache freed; a finished one is forgotten.
     *
     * @return false when {@code id} is unknown
     */
    public synchronized boolean remove(int id) {
        ensureOpen();
        State s = states.remove(id);
        if (s == null) return false;
        release(s);
        return true;
    }

    /** True while {@code id} is queued or generating. */
    public synchronized boolean isActive(int id) {
        State s = states.get(id);
        return s != null && !s.finished;
    }

    /** The tokens generated so far for {@code id} (until it is removed). */
    public synchronized int[] tokens(int id) {
        State s = states.get(id);
        if (s == null) throw new IllegalArgumentException("DecoderSession.tokens: unknown request id " + id);
        return Arrays.copyOf(s.out, s.count);
    }

    /** Requests queued or generating. */
    public synchronized int activeCount() {
        int n = 0;
        for (State s : states.values()) if (!s.finished) n++;
        return n;
    }

    /**
     * Advances every live request by one token (decode for those already prefilled, prefill for the
     * newly added).
     *
     * @return the number of tokens emitted (0 when nothing is live)
     * @throws RuntimeException from the model or the cache: when the decode pass fails, the requests
     *     in it are ended (their caches freed, their tokens so far kept); when the prefill pass
     *     fails, the new requests stay queued and are prefilled from scratch by the next step
     */
    public synchronized int step() {
        ensureOpen();
        List<State> running = new ArrayList<>(), pending = new ArrayList<>();
        int recomputeAt = model.recomputeCacheAt();
        for (State s : states.values()) {
            if (s.finished) continue;
            // the step that first passes the model's recompute length runs the whole sequence again (Phi-3's LongRoPE)
            if (s.seq != null && recomputeAt > 0 && s.req.prompt().length + s.count - 1 == recomputeAt) freeSequences(s);
            (s.seq == null ? pending : running).add(s);
        }
        // Listeners run after each pass, once the session's state is consistent again.
        int emitted = 0;
        if (!running.isEmpty()) {
            List<Runnable> notify = new ArrayList<>();
            emitted += decode(running, notify);
            for (Runnable r : notify) r.run();
        }
        if (!pending.isEmpty()) {
            List<Runnable> notify = new ArrayList<>();
            emitted += prefill(pending, notify);
            for (Runnable r : notify) r.run();
        }
        return emitted;
    }

    /** Steps until no request is live. */
    public void runToCompletion() {
        while (activeCount() > 0) step();
    }

    private int decode(List<State> running, List<Runnable> notify) {
        int b = running.size(), layers = caches.length;
        int[] ids = new int[b], pos = new int[b], reach = new int[b];
        int[][] seq = new int[layers][b];
        for (int i = 0; i < b; i++) {
            State s = running.get(i);
            ids[i] = s.lastToken();
            pos[i] = s.req.prompt().length + s.count - 1;
            reach[i] = pos[i] + 1; // each sequence's own length, whatever its batch-mates'
            for (int l = 0; l < layers; l++) seq[l][i] = s.seq[l];
        }
        int[] picks;
        try (Tensor lg = model.logits(ids, pos, reach, null, (l, q, k, v) -> {
            caches[l].append(seq[l], k, v);
            return Attention.decode(q, caches[l], seq[l], model.attentionOptions(l)); // decode is causal by construction
        })) {
            picks = picks(running, lg);
        } catch (RuntimeException | Error e) {
            // some layers may hold the new token and others not: these requests cannot go on
            for (State s : running) {
                s.finished = true;
                release(s);
            }
            throw e;
        }
        for (int i = 0; i < b; i++) emit(running.get(i), picks[i], notify);
        return b;
    }

    private int prefill(List<State> pending, List<Runnable> notify) {
        int b = pending.size(), layers = caches.length;
        int[][] toks = new int[b][];
        int[] cu = new int[b + 1];
        for (int i = 0; i < b; i++) {
            toks[i] = pending.get(i).tokens(); // the prompt; with the tokens generated so far when the cache is recomputed
            cu[i + 1] = cu[i] + toks[i].length;
        }
        int[] ids = new int[cu[b]], pos = new int[cu[b]], reach = new int[cu[b]], lastRows = new int[b];
        for (int i = 0; i < b; i++) {
            int[] p = toks[i];
            System.arraycopy(p, 0, ids, cu[i], p.length);
            for (int t = 0; t < p.length; t++) pos[cu[i] + t] = t;
            java.util.Arrays.fill(reach, cu[i], cu[i + 1], p.length);
            lastRows[i] = cu[i + 1] - 1;
        }
        for (State s : pending) {
            s.seq = new int[layers];
            for (int l = 0; l < layers; l++) s.seq[l] = caches[l].newSequence();
        }
        int[] picks;
        try (Tensor lg = model.logits(ids, pos, reach, lastRows, (l, q, k, v) -> {
            for (int i = 0; i < b; i++) {
                try (Tensor kk = Rows.range(k, cu[i], cu[i + 1] - cu[i]); Tensor vv = Rows.range(v, cu[i], cu[i + 1] - cu[i])) {
                    caches[l].appendPrompt(pending.get(i).seq[l], kk, vv);
                }
            }
            return Attention.prefillVarlen(q, k, v, cu, cu, model.attentionOptions(l));
        })) {
            picks = picks(pending, lg);
        } catch (RuntimeException | Error e) {
            // back to queued: the next step prefills them again from scratch
            for (State s : pending) freeSequences(s);
            throw e;
        }
        for (int i = 0; i < b; i++) emit(pending.get(i), picks[i], notify);
        return b;
    }

    /**
     * The next token of each request from its row of {@code logits [b, vocab]}. When every request
     * is greedy without logits rules the argmax runs on the logits' device and only b ids
     * come back (at batch 64 the logits of a GPT-2 vocabulary are 12.9 MB per step); otherwise
     * the logits are copied to the host and each request samples from its own stream.
     */
    private int[] picks(List<State> states, Tensor logits) {
        int b = states.size(), v = model.vocabSize();
        boolean allGreedy = true;
        for (State s : states) allGreedy &= s.req.sampling().temperature() == 0 && s.req.rules().isNone();
        if (allGreedy) {
            try (Tensor am = Argmax.rows(logits, v)) {
                return am.toIntArray();
            }
        }
        float[] all = logits.toFloatArray();
        int[] picks = new int[b];
        for (int i = 0; i < b; i++) {
            State s = states.get(i);
            float[] r = Arrays.copyOfRange(all, i * v, (i + 1) * v);
            int[] seq = s.tokens();
            s.req.rules().apply(r, 0, v, seq, seq.length, s.count, s.req.stopIds());
            picks[i] = s.req.sampling().pick(r, 0, v, s.rng);
        }
        return picks;
    }

    private void emit(State s, int tok, List<Runnable> notify) {
        if (s.count == s.out.length) s.out = Arrays.copyOf(s.out, Math.min(s.req.maxNewTokens(), s.out.length * 2));
        s.out[s.count++] = tok;
        boolean stop = false;
        for (int id : s.req.stopIds()) stop |= id == tok;
        boolean last = stop || s.count == s.req.maxNewTokens() || s.req.prompt().length + s.count >= model.maxPositions();
        if (last) {
            s.finished = true;
            release(s);
        }
        TokenListener l = s.req.listener();
        if (l != null) notify.add(() -> l.onToken(s.id, tok, last));
    }

    private void freeSequences(State s) {
        if (s.seq == null) return;
        for (int l = 0; l < caches.length; l++) if (caches[l].contains(s.seq[l])) caches[l].freeSequence(s.seq[l]);
        s.seq = null;
    }

    private void release(State s) {
        if (!s.releasedPages) {
            reservedPages -= s.pages;
            s.releasedPages = true;
        }
        freeSequences(s);
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("DecoderSession is closed");
    }

    /** Frees the caches; idempotent. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        for (PagedKvCache c : caches) c.close();
    }
}
