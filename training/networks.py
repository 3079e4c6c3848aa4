"""The networks: the deployed (quantized) policy, SAC's sigma branch, and the critics."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from training.config import PolicyConfig
from training.fused import QuantizedPolicy, quantize_policy, quantized_mlp, quantized_mlp_inference
from training.quant import ActQuant, qdq_weight

# CleanRL's bounds on SAC's log standard deviation.
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class PolicyNet(nn.Module):
    """obs -> width -> width -> actions, returning the (quantized) value before tanh.

    QDQ sits at the input, on every weight matrix (all at b_core), after each
    hidden ReLU (unsigned, b_core; the ReLU is fused into its quantizer) and on
    the output (signed, b_out). Biases stay float: in the integer dataflow they
    fold into the requantization thresholds. During the activation-scale warm-up
    the forward goes through the ``ActQuant`` modules; afterwards through
    ``training.fused``, which computes the same values with less overhead.
    The deployed action is tanh of the output; tanh is left out of this module
    because the FPGA implements it as a lookup table after the integer network.
    """

    def __init__(self, obs_dim: int, act_dim: int, config: PolicyConfig):
        super().__init__()
        self.config = config
        self.fc1 = nn.Linear(obs_dim, config.width)
        self.fc2 = nn.Linear(config.width, config.width)
        self.fc3 = nn.Linear(config.width, act_dim)
        self._plan: QuantizedPolicy | None = None
        self._warmed_up = False
        self.register_load_state_dict_post_hook(PolicyNet._reset_warm_up_flag)
        if not config.fp32:
            def act_quant(bits: int, signed: bool, relu: bool = False) -> ActQuant:
                return ActQuant(
                    bits, signed, config.scale_warmup_steps, config.scale_percentile, config.scale_momentum, relu
                )

            self.input_quant = act_quant(config.input_bits, signed=True)
            self.hidden1_quant = act_quant(config.core_bits, signed=False, relu=True)
            self.hidden2_quant = act_quant(config.core_bits, signed=False, relu=True)
            self.output_quant = act_quant(config.output_bits, signed=True)

    def linears(self) -> tuple[nn.Linear, nn.Linear, nn.Linear]:
        return self.fc1, self.fc2, self.fc3

    def quantized_weight(self, layer: nn.Linear) -> torch.Tensor:
        return qdq_weight(layer.weight, self.config.core_bits)

    def parameters_written(self) -> None:
        """Drop the cached quantized weights: call after any write the tensor versions miss.

        A fused Adam step writes the parameters without bumping their version
        counters, so each optimizer of a policy calls this after its step
        (``watch_optimizer``).
        """
        self._plan = None

    def watch_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.register_step_post_hook(lambda *_: self.parameters_written())

    def quantized_policy(self) -> QuantizedPolicy:
        """Quantized weights and activation steps, recomputed only after the parameters were written."""
        sources = (*(layer.weight for layer in self.linears()), *(q.value for q in self.quantizers()))
        plan = self._plan
        if plan is None or not plan.is_current(sources):
            bits = (self.config.input_bits, self.config.core_bits, self.config.output_bits)
            plan = self._plan = quantize_policy(sources[:3], sources[3:], bits)
        return plan

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.config.fp32:
            x = F.relu(self.fc1(obs))
            x = F.relu(self.fc2(x))
            return self.fc3(x)
        if not self.warming_up:
            plan = self.quantized_policy()
            if torch.is_grad_enabled():
                return quantized_mlp(obs, self.linears(), [q.value for q in self.quantizers()], plan)
            return quantized_mlp_inference(obs, [layer.bias for layer in self.linears()], plan)
        x = self.input_quant(obs)
        x = self.hidden1_quant(F.linear(x, self.quantized_weight(self.fc1), self.fc1.bias))
        x = self.hidden2_quant(F.linear(x, self.quantized_weight(self.fc2), self.fc2.bias))
        return self.output_quant(F.linear(x, self.quantized_weight(self.fc3), self.fc3.bias))

    def quantizers(self) -> tuple[ActQuant, ...]:
        """The activation quantizers in data-flow order (none for FP32)."""
        if self.config.fp32:
            return ()
        return self.input_quant, self.hidden1_quant, self.hidden2_quant, self.output_quant

    @property
    def warming_up(self) -> bool:
        # Once over, the warm-up stays over (counters only grow) until a state is loaded.
        if self._warmed_up:
            return False
        self._warmed_up = not any(q.warming_up for q in self.quantizers())
        return not self._warmed_up

    @staticmethod
    def _reset_warm_up_flag(module: PolicyNet, incompatible_keys) -> None:
        module._warmed_up = False
        module._plan = None


class DeployedPolicy(nn.Module):
    """What runs on the device: normalized observation batch -> action in [-1, 1]."""

    def __init__(self, net: PolicyNet):
        super().__init__()
        self.net = net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


class SigmaNet(nn.Module):
    """SAC's FP32 log-sigma branch: obs -> width -> actions (one hidden layer), used only in training."""

    def __init__(self, obs_dim: int, act_dim: int, width: int):
        super().__init__()
        self.fc = nn.Linear(obs_dim, width)
        self.fc_logstd = nn.Linear(width, act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        log_std = torch.tanh(self.fc_logstd(F.relu(self.fc(obs))))
        return LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)


class CriticEnsemble(nn.Module):
    """``n`` independent Q(s, a) MLPs (in -> width -> width -> 1) evaluated as one batched matmul.

    Each member is initialised as its own ``nn.Linear`` stack would be; stacking
    only saves the per-network call overhead that dominates at these sizes.
    """

    def __init__(self, n: int, obs_dim: int, act_dim: int, width: int):
        super().__init__()
        sizes = [obs_dim + act_dim, width, width, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(n, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Q values, shape (n, batch)."""
        x = torch.cat([obs, action], dim=1).expand(len(self.weights[0]), -1, -1)
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(bias, x, weight)
            if i < last:
                x = F.relu(x)
        return x.squeeze(-1)


@torch.no_grad()
def soft_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Polyak-average parameters; buffers (quantizer warm-up state) are copied as they are.

    An activation scale only becomes a parameter when the online quantizer's
    warm-up ends; until the target has seen that moment it takes the scale as it
    is rather than averaging it with an unused initial value.
    """
    for target_module, module in zip(target.modules(), online.modules()):
        if isinstance(module, ActQuant) and target_module.warming_up:
            target_module.value.copy_(module.value)
    for target_param, param in zip(target.parameters(), online.parameters()):
        target_param.lerp_(param, tau)
    for target_buffer, buffer in zip(target.buffers(), online.buffers()):
        target_buffer.copy_(buffer)
