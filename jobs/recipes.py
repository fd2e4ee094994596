"""Named training recipes, so faster or better ones are added without forking train.py."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Recipe:
    """Everything that decides how a model is trained.

    Attributes:
        name: how the recipe is called on the command line and in model cards.
        architecture: key of ``model.architecture.ARCHITECTURES``.
        batch_size: images per step; larger batches run faster on this CPU's AMX units.
        epochs: upper bound; early stopping usually ends sooner.
        learning_rate: Adam's initial rate.
        precision: Keras dtype policy; ``mixed_bfloat16`` trains about 2x faster on AMX
            CPUs at batch 128, at the price of bf16 rounding in the forward pass.
        lr_patience: epochs without val-loss improvement before the rate is halved.
        stop_patience: epochs without val-accuracy improvement before stopping (the best
            weights are restored).
        val_fraction: stratified share of train held out for model selection.
        seed: seeds numpy, Python and TensorFlow.
        augment: ``minority`` (the paper: only fear, angry, surprise, disgust) or ``all``.
        oversample: draw minority images toward the paper's per-epoch targets.
        class_weighting: ``balanced`` (w_c = N/(K n_c), the paper), ``sqrt`` (its square
            root: milder, trades a little minority recall for overall accuracy) or ``none``.
        label_smoothing: share of probability mass spread over the other classes;
            helps with FER2013's noisy labels.
        schedule: ``plateau`` (halve on stalled val loss, the paper) or ``cosine`` decay
            to zero over all epochs.
        shift: random translation (fraction of the face) in augmentation.
        erase: probability of random erasing in augmentation.
        labels: ``fer2013`` (the dataset's own labels), ``ferplus`` (FER+ crowd votes as
            soft targets, see ``model.ferplus``; the validation images stay the same) or
            ``fer2013+ferplus`` (FER2013's labels blended with ``ferplus_share`` of the
            FER+ votes; validation keeps FER2013's labels).
        ferplus_share: weight of the FER+ votes in ``fer2013+ferplus`` targets.
        test_time_augmentation: how the finished model is meant to run, written to its
            card (``none``, or ``flip``: average each face with its mirror image; chosen on
            the validation slice).
        init_from: a trained ``.keras`` model of the same architecture whose weights
            start this run (a warm restart: one more learning-rate cycle from where an
            earlier run ended), or ``None`` to start from random weights.
        teacher: a trained ``.keras`` model whose flip-averaged probabilities on the
            training faces are blended into the targets, FER2013 labels or FER+ votes
            (distillation into a smaller network, see ``model.distill``), or the ``.npz``
            of probabilities that ``jobs.teacher`` writes; or a tuple of these, averaged
            (an ensemble teacher); ``None`` for no teacher.
        teacher_share: weight of the teacher's probabilities in those targets.
        mixup: Beta parameter of mixup (``model.augment.mix_faces``: faces, targets and
            loss weights blended in pairs); 0 for none.
        cutmix: Beta parameter of CutMix (``model.augment.cut_faces``: a rectangle of
            another face pasted in, targets and loss weights blended by area); 0 for none.
    """

    name: str
    architecture: str = "lightemonet"
    batch_size: int = 32
    epochs: int = 50
    learning_rate: float = 1e-3
    precision: str = "float32"
    lr_patience: int = 5
    stop_patience: int = 10
    val_fraction: float = 0.1
    seed: int = 42
    augment: str = "minority"
    oversample: bool = True
    class_weighting: str = "balanced"
    label_smoothing: float = 0.0
    schedule: str = "plateau"
    shift: float = 0.0
    erase: float = 0.0
    labels: str = "fer2013"
    ferplus_share: float = 0.3
    test_time_augmentation: str = "none"
    init_from: str | None = None
    teacher: str | tuple[str, ...] | None = None
    teacher_share: float = 0.5
    mixup: float = 0.0
    cutmix: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, **overrides: object) -> Recipe:
        """A copy with the given fields changed; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


# Same architecture as the paper, the levers known to work on FER2013: every class
# augmented (with shifts and random erasing), no oversampling, milder class weights, label
# smoothing, cosine decay; early stopping only as a safety net.
_PLUS = Recipe(
    name="plus-bf16",
    batch_size=128,
    precision="mixed_bfloat16",
    epochs=40,
    stop_patience=40,
    augment="all",
    oversample=False,
    class_weighting="sqrt",
    label_smoothing=0.1,
    schedule="cosine",
    shift=0.1,
    erase=0.5,
)

# Half-width LightEmoNet distilled from the default model (see "half-distill-f32").
_HALF = _PLUS.with_overrides(
    architecture="lightemonet-half",
    batch_size=64,
    precision="float32",
    label_smoothing=0.0,
    teacher="model/weights/lightemonet-plus-r4.keras",
    teacher_share=0.5,
)

# Cycles on the FER+ votes (soft targets, so no label smoothing) from the shipped ferplus
# model, in float32 at batch 64 for CPUs without bf16 hardware.
_FERPLUS_F32 = _PLUS.with_overrides(
    labels="ferplus",
    batch_size=64,
    precision="float32",
    label_smoothing=0.0,
    erase=0.25,
    init_from="model/weights/lightemonet-ferplus.keras",
    test_time_augmentation="flip",
)

# A second cosine cycle of the pooled-head FER+ model (see "ferplus-pool-restart-f32").
_POOL_RESTART = _FERPLUS_F32.with_overrides(
    architecture="lightemonet-pool",
    epochs=12,
    stop_patience=12,
    learning_rate=2.5e-4,
    init_from="model/weights/lightemonet-ferplus-pool.keras",
)

# A larger network grown from the second cycle (starting as it), for 16 more epochs. It
# runs without the mirror image: flip adds 0.2 points of validation accuracy at twice the
# cost, a larger network spends that cost on every face.
_POOL_GROWN = _POOL_RESTART.with_overrides(
    epochs=16,
    stop_patience=16,
    init_from="model/weights/lightemonet-ferplus-pool-r2.keras",
    test_time_augmentation="none",
)

RECIPES: dict[str, Recipe] = {
    # Exactly the paper: batch 32, float32.
    "paper": Recipe(name="paper"),
    # The paper's recipe at batch 128 under mixed_bfloat16: same data, augmentation,
    # optimizer and callbacks, about 2x faster per epoch on an AMX CPU.
    "paper-bf16": Recipe(name="paper-bf16", batch_size=128, precision="mixed_bfloat16"),
    "plus-bf16": _PLUS,
    # A second cosine cycle from the shipped plus-bf16 model (a warm restart): that run
    # ended with training accuracy below validation accuracy, i.e. still underfitting, so
    # this cycle starts at half the rate and erases less. Flip averaging at test time
    # raised validation accuracy/macro-F1 of the plus model by 0.4/0.9 points.
    "plus-restart-bf16": _PLUS.with_overrides(
        name="plus-restart-bf16",
        epochs=30,
        stop_patience=30,
        learning_rate=5e-4,
        erase=0.25,
        init_from="model/weights/lightemonet-plus.keras",
        test_time_augmentation="flip",
    ),
    # A last, gentle cycle without random erasing: the restarts trained below their
    # validation accuracy (heavy regularisation), so the final epochs see cleaner faces.
    # float32 at batch 32: for CPUs without AMX/AVX512-BF16, where bf16 is emulated (a
    # 2-core AMD EPYC ran batch-32 float32 epochs in ~270 s, bf16 ~8x slower).
    "plus-anneal-f32": _PLUS.with_overrides(
        name="plus-anneal-f32",
        batch_size=32,
        precision="float32",
        epochs=12,
        stop_patience=12,
        learning_rate=1e-4,
        erase=0.0,
        init_from="model/weights/lightemonet-plus-r3.keras",
        test_time_augmentation="flip",
    ),
    # One more gentle cycle from r4 whose targets blend FER2013's label with 30% of the
    # FER+ crowd votes, instead of uniform label smoothing: the mass goes to the emotions
    # people actually saw in the face. Selection and scoring stay on FER2013's labels.
    "plus-ferplus-blend-f32": _PLUS.with_overrides(
        name="plus-ferplus-blend-f32",
        batch_size=32,
        precision="float32",
        epochs=8,
        stop_patience=8,
        learning_rate=1e-4,
        erase=0.0,
        label_smoothing=0.0,
        labels="fer2013+ferplus",
        ferplus_share=0.3,
        init_from="model/weights/lightemonet-plus-r4.keras",
        test_time_augmentation="flip",
    ),
    # LightEmoNet at half width (16/32/64 filters, dense 256: a quarter of the convolution
    # work) for CPUs without AMX, where the full network takes 2-3 ms per face; trained from
    # scratch toward half its labels, half the default model's probabilities. float32 at
    # batch 64; one pass per face (no flip) to stay within 1 ms on an AVX2 CPU.
    "half-distill-f32": _HALF.with_overrides(
        name="half-distill-f32", epochs=36, stop_patience=36, erase=0.25
    ),
    # One more cosine cycle for the half-width model, without random erasing: its first
    # run ended with training accuracy (56%) well below validation accuracy (60%).
    "half-anneal-f32": _HALF.with_overrides(
        name="half-anneal-f32",
        epochs=12,
        stop_patience=12,
        learning_rate=3e-4,
        erase=0.0,
        init_from="model/weights/lightemonet-half.keras",
    ),
    # The same network fine-tuned on the FER+ crowd votes (soft targets, so no label
    # smoothing) from the best FER2013 model; validation images are those of the others.
    "ferplus-bf16": _PLUS.with_overrides(
        name="ferplus-bf16",
        labels="ferplus",
        epochs=20,
        stop_patience=20,
        learning_rate=5e-4,
        label_smoothing=0.0,
        erase=0.25,
        init_from="model/weights/lightemonet-plus-r2.keras",
        test_time_augmentation="flip",
    ),
    # A second cycle on the FER+ votes from the shipped ferplus model, which ended its
    # first 20 epochs still improving (training accuracy 75.7% below validation 80.3%).
    "ferplus-restart-f32": _FERPLUS_F32.with_overrides(
        name="ferplus-restart-f32", epochs=16, stop_patience=16, learning_rate=2.5e-4
    ),
    # The FER+ votes from random weights with a long schedule, instead of a fine-tune of
    # a FER2013 model: FER2013's noisier labels never shape the features. A run this long
    # spans several sittings on two cores; rerunning the command resumes it.
    "ferplus-scratch-f32": _PLUS.with_overrides(
        name="ferplus-scratch-f32",
        labels="ferplus",
        batch_size=64,
        precision="float32",
        label_smoothing=0.0,
        epochs=60,
        stop_patience=60,
        test_time_augmentation="flip",
    ),
    # The pooled-head variant (a fourth block of 256 filters, global average pooling in
    # place of the 2.4M-parameter dense head) on the FER+ votes, its first three blocks
    # starting from the shipped ferplus model: more convolution, fewer parameters to
    # overfit, at about 1.2x the int8 cost per face (within the detector's per frame).
    "ferplus-pool-f32": _FERPLUS_F32.with_overrides(
        name="ferplus-pool-f32",
        architecture="lightemonet-pool",
        epochs=16,
        stop_patience=16,
        learning_rate=5e-4,
    ),
    # One more cosine cycle for the pooled head, at half its first rate: its fourth block
    # had only the first run's 16 epochs.
    "ferplus-pool-restart-f32": _POOL_RESTART.with_overrides(name="ferplus-pool-restart-f32"),
    # The same cycle with mixup: pairs of faces blended with their vote distributions,
    # the in-between expressions FER+'s crowd votes already describe.
    "ferplus-pool-mixup-f32": _POOL_RESTART.with_overrides(
        name="ferplus-pool-mixup-f32", mixup=0.2
    ),
    # The same cycle with CutMix: one face's mouth under another's eyes, votes blended by area.
    "ferplus-pool-cutmix-f32": _POOL_RESTART.with_overrides(
        name="ferplus-pool-cutmix-f32", cutmix=1.0
    ),
    # A residual block on top of the second cycle, starting as the identity.
    "ferplus-pool-res-f32": _POOL_GROWN.with_overrides(
        name="ferplus-pool-res-f32", architecture="lightemonet-pool-res"
    ),
    # The second cycle widened by half in its last two blocks (192, 384 filters; see
    # ``model.widen``).
    "ferplus-pool-wide-f32": _POOL_GROWN.with_overrides(
        name="ferplus-pool-wide-f32", architecture="lightemonet-pool-wide"
    ),
    # The second cycle looking at its faces enlarged to 64x64 (the same weights, finer maps).
    "ferplus-pool-up64-f32": _POOL_GROWN.with_overrides(
        name="ferplus-pool-up64-f32", architecture="lightemonet-pool-up64"
    ),
    # LightEmoNet from the shipped ferplus model toward half the FER+ votes, half the
    # probabilities of the wide teacher (``jobs.teacher``, trained where a GPU is; any
    # machine can run it, slowly), as it wrote them: running that network here would cost
    # about 40 ms per face on a 2-core AMD EPYC, half an hour for every face and mirror.
    "ferplus-distill-f32": _FERPLUS_F32.with_overrides(
        name="ferplus-distill-f32",
        epochs=30,
        stop_patience=30,
        learning_rate=5e-4,
        teacher="runs/teacher/teacher-probs.npz",
        teacher_share=0.5,
    ),
}
