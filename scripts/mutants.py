#!/usr/bin/env python3
"""Planted bugs: each test that guards a behaviour must fail when that behaviour breaks.

For every mutant below this script edits the source (exact text, found exactly once), runs the one test
that claims to guard it, expects that test to FAIL (a failing assertion, not a compile error), and puts
the source back, whatever happens. Before the mutants it runs each named test on the unchanged source,
which must pass. It prints a Markdown table (also written to target/mutants/report.md).

    python3 scripts/mutants.py            # all mutants (~1-2 min each on 2 cores: a rebuild + one test)
    python3 scripts/mutants.py --list     # the table of mutants, nothing run
    python3 scripts/mutants.py --only a,b # some of them (--kind cargo|e2e: those checked by cargo tests / the browser)

Builds go to target/mutants (CARGO_TARGET_DIR), so target/debug (used by the browser tests) keeps the
real binary. Mutants whose test is a browser scenario ("e2e") run that scenario with tests/e2e/run.mjs
(they need its prerequisites); those of Rust code rebuild pkg/ first, and again from the real source after. Not part of the
test command: it rebuilds the crate once per mutant.
"""

import argparse
import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

# (name, what the planted bug breaks, file, [(text, replacement), ...], test binary ("lib": the crate's unit
# tests), test name); an edit of
# three items (file, text, replacement) is made in that other file.
MUTANTS = [
    ("resume-restarts-epoch-order",
     "a resumed run draws its epoch like the first one (the seed + epoch re-seeding bug)",
     "src/train.rs", [("set.seek(epoch, batch);", "set.seek(0, batch);")],
     "cli", "train_resume_equals_an_uninterrupted_run"),
    ("resume-ignores-batch",
     "a rebuilt training set restarts its epoch instead of resuming mid-epoch",
     "src/data/training_set.rs",
     [("self.cursor = if batch < self.steps_per_epoch() { batch * self.batch_size } else { 0 };",
       "self.cursor = if batch < self.steps_per_epoch() { 0 } else { 0 };")],
     "train", "a_rebuilt_training_set_resumes_mid_epoch_exactly"),
    ("dropout-not-reseeded",
     "dropout masks continue the process's generator instead of being drawn from the step's place",
     "src/train.rs", [("if trainer.options.dropout > 0.0 {\n            trainer.device().seed(dropout_seed);",
                       "if false {\n            trainer.device().seed(dropout_seed);")],
     "train", "a_rebuilt_training_set_resumes_mid_epoch_exactly"),
    ("snapshot-forgets-epoch",
     "a restored snapshot starts at epoch 0 (learning rates before the lr drop)",
     "src/train.rs", [('self.epoch = meta["epoch"].as_u64().unwrap_or(0) as usize;', "self.epoch = 0;")],
     "train", "snapshot_resumes_past_an_lr_drop"),
    ("model-restored-before-optimizer",
     "a snapshot with a truncated optimizer state changes the model before it is refused",
     "src/train.rs",
     [("        optim.restore(&snapshot.optimizer, &self.device().without_autodiff()).map_err(|e| state(e.to_string()))?;\n", ""),
      ("        self.optim = optim;\n",
       "        optim.restore(&snapshot.optimizer, &self.device().without_autodiff()).map_err(|e| state(e.to_string()))?;\n"
       "        self.optim = optim;\n")],
     "train", "truncated_snapshots_are_refused_and_change_nothing"),
    ("hub-names-swapped",
     "two same-shaped hub keys swapped in the name table and its inverse (a round trip still passes)",
     "src/weights.rs",
     [('    name.replace(".downsample.0.", ".downsample.conv.")',
       '    name.replace(".sa_qcontent_proj.", ".SWAP.").replace(".sa_kcontent_proj.", ".sa_qcontent_proj.")'
       '.replace(".SWAP.", ".sa_kcontent_proj.").replace(".downsample.0.", ".downsample.conv.")'),
      ('    path.replace(".downsample.conv.", ".downsample.0.")',
       '    path.replace(".sa_qcontent_proj.", ".SWAP.").replace(".sa_kcontent_proj.", ".sa_qcontent_proj.")'
       '.replace(".SWAP.", ".sa_kcontent_proj.").replace(".downsample.conv.", ".downsample.0.")')],
     "weights", "hub_r50_manifest_key_by_key"),
    ("official-norms-swapped",
     "the official decoder's norm2/norm3 (same shape) land in each other's place",
     "src/weights.rs",
     [('("decoder", "norm2") => field.replacen("norm2", "encoder_attn_layer_norm", 1),',
       '("decoder", "norm2") => field.replacen("norm2", "final_layer_norm", 1),'),
      ('("decoder", "norm3") => field.replacen("norm3", "final_layer_norm", 1),',
       '("decoder", "norm3") => field.replacen("norm3", "encoder_attn_layer_norm", 1),')],
     "weights", "official_r50_manifest_key_by_key"),
    ("official-qk-swapped",
     "the official in_proj rows go to k, q, v instead of q, k, v",
     "src/weights.rs", [('["q_proj", "k_proj", "v_proj"]', '["k_proj", "q_proj", "v_proj"]')],
     "weights", "official_r50_manifest_key_by_key"),
    ("f16-stored-as-bf16",
     "the f16 Burnpack stores another dtype",
     "src/weights.rs", [("data.convert::<half::f16>()", "data.convert::<half::bf16>()")],
     "cli", "detect_accepts_every_checkpoint_format_and_convert_round_trips"),
    ("f16-rounded-through-bf16",
     "the f16 Burnpack is F16 but loses more than 2^-11 relative",
     "src/weights.rs", [("data.convert::<half::f16>()", "data.convert::<half::bf16>().convert::<half::f16>()")],
     "cli", "detect_accepts_every_checkpoint_format_and_convert_round_trips"),
    ("bf16-read-as-f16",
     "BF16 checkpoint tensors decoded as F16",
     "src/weights.rs", [('"BF16" => raw.chunks_exact(2).map(|c| half::bf16::', '"BF16" => raw.chunks_exact(2).map(|c| half::f16::')],
     "weights", "f16_bf16_and_f64_checkpoints_load_as_the_values_they_store"),
    ("grad-norm-squared",
     "grad_norm reported as the squared norm",
     "src/train.rs", [("Ok((value[0] as f64).sqrt())", "Ok(value[0] as f64)")],
     "cli", "train_first_metrics_line_equals_reference_loss"),
    ("lr-floor",
     "a learning-rate floor: at lr 0 AdamW still takes steps of 1e-4",
     "src/optim.rs", [("let updated = if lr == 0.0 { decayed } else { decayed - update * lr };",
                       "let updated = decayed - update * lr.max(1e-4);")],
     "cli", "train_first_metrics_line_equals_reference_loss"),
    ("splitmix-constant",
     "a SplitMix64 multiplier off by one",
     "src/data/augment.rs", [("0xBF58_476D_1CE4_E5B9", "0xBF58_476D_1CE4_E5B8")],
     "augment", "splitmix64_known_answers"),
    ("flip-probability",
     "the horizontal flip taken 40 % of the time instead of 50 %",
     "src/data/augment.rs", [("            flip_prob: 0.5,", "            flip_prob: 0.4,")],
     "augment", "augmentation_branch_frequencies"),
    ("crop-branch-probability",
     "the crop branch of RandomSelect taken 60 % of the time",
     "src/data/augment.rs", [("            resize_only_prob: 0.5,", "            resize_only_prob: 0.4,")],
     "augment", "augmentation_branch_frequencies"),
    ("final-resize-scales",
     "the final resize draws from the crop's resize scales",
     "src/data/augment.rs", [("random_resize(&img, &boxes, &self.scales, Some(self.max_size), rng)",
                              "random_resize(&img, &boxes, &self.crop_resize_scales, Some(self.max_size), rng)")],
     "augment", "augmentation_branch_frequencies"),
    ("same-order-every-epoch",
     "every epoch gets the first epoch's shuffle",
     "src/data/training_set.rs", [("rng.fork(epoch as u64).shuffle(&mut order);", "rng.fork(0).shuffle(&mut order);")],
     "augment", "training_set_shuffles_epochs_and_keeps_the_smaller_last_batch"),
    ("last-batch-dropped",
     "the smaller last batch is dropped (the epoch ends a batch early)",
     "src/data/training_set.rs", [("let epoch_done = end == self.order.len();",
                                   "let epoch_done = end + self.batch_size > self.order.len();")],
     "augment", "training_set_shuffles_epochs_and_keeps_the_smaller_last_batch"),
    ("augmentation-by-batch-place",
     "a sample's augmentation drawn from its place in the batch, not in the epoch",
     "src/data/training_set.rs", [("&mut epoch_rng.fork(position as u64 + 1)",
                                   "&mut epoch_rng.fork((position - self.cursor) as u64 + 1)")],
     "augment", "samples_of_an_epoch_draw_their_own_augmentation"),
    ("resize-to-zero",
     "a 1x4000 image resized to a 0-pixel side",
     "src/preprocess.rs", [("((oh as u32).max(1), (ow as u32).max(1))", "(oh as u32, ow as u32)")],
     "cli", "detect_handles_extreme_aspect_ratios"),
    ("divergence-unchecked",
     "non-finite predictions and losses are not refused anywhere (the matcher's two checks and the step's)",
     "src/train.rs", [("if !total.is_finite() {", "if total.is_nan() && false {"),
                      ("src/matcher.rs", "            if !c.is_finite() {\n                return Err(MatchError::NonFinite);",
                       "            if c.is_nan() && false {\n                return Err(MatchError::NonFinite);"),
                      ("src/matcher.rs", "    if costs.iter().any(|c| !c.is_finite()) {", "    if costs.iter().any(|c| c.is_nan()) && false {")],
     "train", "a_diverging_loss_is_refused"),
    ("yolo-x-by-height",
     "YOLO x coordinates scaled by the image height",
     "src/data/yolo.rs", [("((cx - w / 2.0) * fw) as f32,", "((cx - w / 2.0) * fh) as f32,")],
     "cli", "train_reads_voc_and_yolo_like_coco"),
    ("voc-axes-swapped",
     "VOC xmin/ymin read in the wrong order",
     "src/data/voc.rs", [('zip(["xmin", "ymin", "xmax", "ymax"])', 'zip(["ymin", "xmin", "ymax", "xmax"])')],
     "cli", "train_reads_voc_and_yolo_like_coco"),
    ("from-scratch-keeps-labels",
     "train --weights none keeps the config's class names",
     "src/cli/train.rs", [("        config.set_labels(classes);\n", "")],
     "cli", "synth_and_training_from_scratch"),
    ("synth-seed-shifted",
     "cdetr synth writes another seed's dataset",
     "src/cli/synth.rs", [("synth_dataset(args.seed, ", "synth_dataset(args.seed + 1, ")],
     "cli", "synth_and_training_from_scratch"),
    ("eval-ignores-resize",
     "eval runs at the original size whatever --resize says",
     "src/evaluate.rs", [("let batch = preprocess(std::slice::from_ref(img), resize);",
                          "let batch = preprocess(std::slice::from_ref(img), ResizeMode::None);")],
     "cli", "eval_with_the_default_resize_scores_the_default_detections"),
    ("layer1-trained",
     "the default recipe trains layer1 (the manifest's frozen set)",
     "src/model/backbone.rs", [("        self.layer1 = self.layer1.no_grad();\n", "")],
     "train", "default_freezing_follows_the_hub_manifest"),
    ("frozen-backbone-partly",
     "--freeze-backbone freezes only the stem and layer1",
     "src/train.rs", [("            model.model.backbone.no_grad()\n", "            model.model.backbone.freeze_stem_and_layer1()\n")],
     "train", "frozen_backbone_does_not_move"),
    ("query-off-by-one",
     "the attention maps of query == queries are not refused",
     "src/detector.rs", [("if query >= queries {", "if query > queries {")],
     "detector", "a_frame_gives_detections_with_reference_points_and_attention_maps"),
    ("session-without-classes",
     "a training session starts on a dataset with no classes",
     "src/session.rs", [("if dataset.class_names.is_empty() {", "if dataset.class_names.is_empty() && false {")],
     "session", "a_session_plans_labels_steps_through_epochs_and_restores"),
    ("worst-predictions-unfiltered",
     "the worst images' detections include those below the confusion threshold",
     "src/session.rs", [("d.image_id == e.image_id && d.score >= options.score_threshold", "d.image_id == e.image_id")],
     "session", "validation_equals_cdetr_eval_on_the_same_weights"),
    ("recount-detections-elsewhere",
     "the recount after a label fix puts the detections on another image",
     "src/session.rs", [("Detection { image_id: 0, category_id: p.label,", "Detection { image_id: 1, category_id: p.label,")],
     "session", "validation_equals_cdetr_eval_on_the_same_weights"),
    ("serve-other-methods",
     "other methods reach the file lookup (a POST to a missing path is a 404, not a 405)",
     "src/cli/serve.rs", [("if req.method() != Method::GET && req.method() != Method::HEAD {",
                           "if req.method() == Method::TRACE {")],
     "cli", "serve_answers_get_head_with_types_revalidation_and_precompressed"),
    ("serve-wasm-type",
     "wasm served without application/wasm (streaming compilation refuses it)",
     "src/cli/serve.rs", [('"wasm" => "application/wasm",', '"wasm" => "application/octet-stream",')],
     "cli", "serve_answers_get_head_with_types_revalidation_and_precompressed"),
    ("serve-symlink-escape",
     "paths are not resolved before the check, so a symlink inside www/ that leads out of it is followed",
     "src/cli/serve.rs", [("let file = base.join(relative).canonicalize().ok()?;", "let file = base.join(relative);")],
     "cli", "serve_refuses_traversal_hidden_files_and_symlink_escapes"),
    ("page-boxes-y-by-width",
     "the page's boxes scaled wrongly in post-processing, shared with the CLI (page = CLI still holds)",
     "src/postprocess.rs", [("bbox: [xyxy[0] * w, xyxy[1] * h, xyxy[2] * w, xyxy[3] * h],",
                             "bbox: [xyxy[0] * w, xyxy[1] * w, xyxy[2] * w, xyxy[3] * w],")],
     "e2e", "p"),
    ("page-attention-spatial-as-combined",
     "the attention view's combined map is the spatial one (tile count and contrast still look right)",
     "src/detector.rs", [('let combined = read(&maps.combined, "attention").await?;',
                          'let combined = read(maps.spatial.as_ref().unwrap_or(&maps.combined), "attention").await?;')],
     "e2e", "p"),
    ("recount-unscaled",
     "a worst image's labels recounted in original pixels against detections in the validated copy's",
     "www/train.js", [("const s = fix.preds.width / r.width;", "const s = 1;")],
     "e2e", "o"),
    ("recount-class-0",
     "the recount sends every box as the first class",
     "www/train.js", [("label: classes.indexOf(b.cls) }));", "label: 0 }));")],
     "e2e", "o"),
    ("predictions-not-drawn",
     "the worst image opens without the model's detections drawn",
     "www/dataset.js", [("if (predictions) this.editor.setPredictions(predictions);", "")],
     "e2e", "o"),
    ("diag-classes-reversed",
     "the diagnostics panel lists the classes in another order than cdetr eval --json",
     "www/train.js", [("T.diag = { step: T.step, classes, confusion,", "T.diag = { step: T.step, classes: classes.slice().reverse(), confusion,")],
     "e2e", "d"),
    ("discard-drops-comparison",
     "Discard training also drops the run kept for comparison",
     "www/train.js", [("    await store.kv.del('training');\n", "    await store.kv.del('training');\n    await clearComparison();\n")],
     "e2e", "l"),
    ("comparison-not-reloaded",
     "the run kept for comparison is not read back after a reload",
     "www/train.js", [("    this.setComparison(comparisonFrom(await store.kv.get('comparison')));\n", "")],
     "e2e", "l"),
    ("comparison-not-drawn",
     "the earlier run's curves are counted but not drawn",
     "www/chart.js", [("      if (line(g, pts.map((m) => { ema = pts.length > 25", "      if (!pts && line(g, pts.map((m) => { ema = pts.length > 25")],
     "e2e", "l"),
    ("gpu-loss-not-fatal",
     "wgpu's \"device is poisoned\" (the GPU process died) is shown as an ordinary error: no restart on the CPU",
     "www/protocol.js", [("device (was |is )?(lost|poisoned)|DeviceLost|external Instance reference no longer exists", "device (was )?lost|DeviceLost")],
     "e2e", "q"),
    ("older-result-over-newer-photo",
     "a detection that finishes after a newer photo was opened is shown over it (and the newer photo is lost)",
     "www/detect.js", [("      if (this.state.frame === current) this.show(frame, result);", "      this.show(frame, result);")],
     "e2e", "q"),
    ("import-storage-error-uncaught",
     "a photo import that storage refuses escapes as an uncaught error (the page's catch-all message only)",
     "www/dataset.js", [("      ids = await store.images.add(records);\n    } catch (/** @type {any} */ e) {", "      ids = await store.images.add(records);\n    } catch (/** @type {any} */ e) {\n      if (e) throw e;")],
     "e2e", "r"),
    ("import-half-added",
     "photos that could not be stored are in the dataset anyway (until a reload loses them)",
     "www/dataset.js", [("      this.notStored(e, `${records.length} image${records.length === 1 ? '' : 's'}`);", "      D.images.push(...records);\n      this.notStored(e, `${records.length} image${records.length === 1 ? '' : 's'}`);")],
     "e2e", "r"),
    ("snapshot-claimed-saved",
     "a training snapshot that storage refused is counted as saved (the page would resume from a step it does not have)",
     "www/train.js", [("        throw new SnapshotNotSaved(T.step, T.snapshotStep, e);", "        T.snapshotStep = T.step;\n        throw new SnapshotNotSaved(T.step, T.snapshotStep, e);")],
     "e2e", "r"),
    ("box-save-error-silent",
     "a drawn box that storage refused is dropped without a word",
     "www/dataset.js", [("        this.deps.notify({ level: 'error', id: 'save', title: 'The boxes could not be saved',", "        if (e) return false;\n        this.deps.notify({ level: 'error', id: 'save', title: 'The boxes could not be saved',")],
     "e2e", "r"),
    ("serve-precompressed-escape",
     "a precompressed sibling that leads out of pkg/ is sent",
     "src/cli/serve.rs", [("std::fs::canonicalize(sibling).is_ok_and(|real| !real.starts_with(base))",
                           "std::fs::canonicalize(sibling).is_ok_and(|real| real.as_os_str().is_empty())")],
     "cli", "serve_refuses_traversal_hidden_files_and_symlink_escapes"),
    ("cpu-attention-attends-padding",
     "the CPU attention kernel gives padding keys their real score",
     "src/kernels/attention.rs", [("*s = MASKED_SCORE;", "*s += 0.0;")],
     "parity", "post_processing_matches_reference"),
    ("cpu-attention-unscaled",
     "the CPU attention kernel leaves out the 1/sqrt(dk) scale",
     "src/kernels/attention.rs", [("let scale = (qk_dim as f32).powf(-0.5);", "let scale = 1.0f32;")],
     "parity", "hf_safetensors_matches_every_stage"),
    ("dropout-keeps-p",
     "the CPU dropout keeps elements with probability p instead of 1 - p",
     "src/model/dropout.rs", [("let threshold = (keep * 4_294_967_296.0) as u64;", "let threshold = (prob * 4_294_967_296.0) as u64;")],
     "lib", "model::dropout::tests::keeps_one_minus_p_of_the_elements_scaled"),
    ("dropout-unscaled",
     "the CPU dropout does not scale the kept elements by 1/(1 - p)",
     "src/model/dropout.rs", [("let scale = (1.0 / keep) as f32;", "let scale = 1.0f32;")],
     "lib", "model::dropout::tests::on_the_cpu_it_scales_kept_elements_follows_the_device_seed_and_passes_gradients"),
    ("pointwise-drops-bias",
     "a 1x1 convolution in CPU training (a matrix product) leaves out the folded batch-norm shift",
     "src/model/backbone.rs", [("matmul(x.reshape([b, c_in, h * w])) + bias.reshape([1, c_out, 1]);", "matmul(x.reshape([b, c_in, h * w]));")],
     "lib", "model::backbone::tests::training_1x1_convolutions_as_matrix_products_match_conv2d"),
]


def e2e(scenario, log, rebuild):
    """Rebuilds pkg/ (the page's wasm) when Rust changed, and runs one browser scenario against it."""
    with open(log, "w") as out:
        if rebuild and subprocess.run(["./scripts/build-web.sh"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode:
            return "did not compile"
        env = dict(os.environ, E2E_ONLY=scenario)
        rc = subprocess.run(["node", "tests/e2e/run.mjs"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    return "passed" if rc == 0 else "failed"


def where_of(binary, test):
    """Where a guarding test lives, as the report names it."""
    if binary == "e2e":
        return f"e2e scenario {test}"
    return f"unit test {test}" if binary == "lib" else f"tests/{binary}.rs::{test}"


def run_test(binary, name, log, rebuild=True):
    return e2e(name, log, rebuild) if binary == "e2e" else cargo_test(binary, name, log)


def cargo_test(binary, name, log):
    env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target/mutants"))
    target = ["--lib"] if binary == "lib" else ["--test", binary]
    cmd = ["cargo", "test", "--locked", *target, "--", "--exact", name]
    with open(log, "w") as out:
        try:
            rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900).returncode
        except subprocess.TimeoutExpired:
            return "failed"  # a hang is a failure too (the log says where it stood)
    text = pathlib.Path(log).read_text(errors="replace")
    if rc == 0:
        return "passed" if "1 passed" in text else "not run"
    if "error[E" in text or "could not compile" in text:
        return "did not compile"
    return "failed"


def mutated(file, edits, where):
    """{path: (original text, mutated text)} of every file the mutant's edits touch."""
    out = {}
    for edit in edits:
        path, old, new = (ROOT / edit[0], *edit[1:]) if len(edit) == 3 else (ROOT / file, *edit)
        original, text = out.get(path) or (path.read_text(),) * 2
        n = text.count(old)
        if n != 1:
            raise SystemExit(f"{where}: the text to replace occurs {n} times (the mutant is stale): {old!r}")
        out[path] = (original, text.replace(old, new))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated mutant names")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--kind", choices=["cargo", "e2e"], help="only the mutants checked by cargo tests, or by browser scenarios")
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if not args.kind or (m[4] == "e2e") == (args.kind == "e2e")]
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {m[0] for m in MUTANTS}
        if unknown:
            raise SystemExit(f"unknown mutants: {', '.join(sorted(unknown))}")
        chosen = [m for m in chosen if m[0] in names]
    if args.list:
        for name, what, file, _, binary, test in chosen:
            print(f"{name:34} {where_of(binary, test)}\n{'':34} {what} ({file})")
        return 0

    logs = ROOT / "target/mutants/logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Every mutant must apply to today's source before anything runs.
    for name, _, file, edits, _, _ in chosen:
        mutated(file, edits, name)

    rows, ok = [], True
    built = False  # pkg/ is built from the real source once, before the first browser scenario
    for binary, test in sorted({(m[4], m[5]) for m in chosen}):
        got = run_test(binary, test, logs / f"baseline-{binary}-{test}.log", not built)
        built |= binary == "e2e"
        print(f"baseline {where_of(binary, test)}: {got}", flush=True)
        if got != "passed":
            ok = False
            rows.append(("(unchanged source)", where_of(binary, test), got, "must pass"))
    if not ok:
        print("a named test does not pass on the unchanged source; no mutant was run", file=sys.stderr)
        return 1

    for name, what, file, edits, binary, test in chosen:
        files = mutated(file, edits, name)
        started = time.time()
        try:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
            for path, (_, text) in files.items():
                path.write_text(text)
            rust = any(path.suffix == ".rs" for path in files)
            got = run_test(binary, test, logs / f"{name}.log", rust)
        finally:
            for path, (original, _) in files.items():
                path.write_text(original)
            if binary == "e2e" and rust:  # pkg/ back to the real source
                subprocess.run(["./scripts/build-web.sh"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        caught = got == "failed"
        ok &= caught
        print(f"{name}: {'caught' if caught else 'NOT CAUGHT (' + got + ')'} by {binary}::{test} "
              f"({time.time() - started:.0f} s)", flush=True)
        rows.append((name, where_of(binary, test), "caught" if caught else f"NOT CAUGHT ({got})", what))

    table = ["| planted bug | test | result | what it breaks |", "|---|---|---|---|"]
    table += [f"| `{n}` | `{t}` | {r} | {w} |" for n, t, r, w in rows]
    report = "\n".join(table) + "\n"
    (ROOT / "target/mutants/report.md").write_text(report)
    print("\n" + report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
