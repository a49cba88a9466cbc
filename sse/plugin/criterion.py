"""The NT-Xent criterion (temperature 0.15)."""

from dataclasses import dataclass, field

from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass

from sse.method.loss import TEMPERATURE, nt_xent, positive_accuracy


@dataclass
class NTXentConfig(FairseqDataclass):
    temperature: float = field(default=TEMPERATURE, metadata={"help": "softmax temperature of NT-Xent"})


@register_criterion("nt_xent", dataclass=NTXentConfig)
class NTXentCriterion(FairseqCriterion):
    """Batches hold 2B rows, the first halves of B positive pairs then their second halves."""

    def __init__(self, task, temperature: float = TEMPERATURE) -> None:
        super().__init__(task)
        self.temperature = temperature

    def forward(self, model, sample, reduce=True):
        projections = model(**sample["net_input"])
        half = len(projections) // 2
        first, second = projections[:half], projections[half:]
        labels = sample.get("pair_labels")
        loss = nt_xent(first, second, self.temperature, labels)
        logging_output = {"loss": loss.detach().item(), "accuracy": positive_accuracy(first, second, labels),
                          "batches": 1, "nsentences": half, "ntokens": half, "sample_size": 1}
        return loss, 1, logging_output

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        outputs = [log for log in logging_outputs if "loss" in log]
        if not outputs:
            return  # benchmark validation logs MAP only
        # Outputs may arrive summed over ranks (distributed training): divide by the batches they hold.
        batches = sum(log.get("batches", 1) for log in outputs)
        metrics.log_scalar("loss", sum(log["loss"] for log in outputs) / batches, batches, round=4)
        metrics.log_scalar("accuracy", sum(log["accuracy"] for log in outputs) / batches, batches, round=4)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        # Summable outputs are all-reduced as tensors, which works on CPU (gloo) as on GPU;
        # fairseq's other path (all_gather_list) needs CUDA.
        return True
