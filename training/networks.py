"""The networks: the deployed (quantized) policy, SAC's sigma branch, and the critics.

Every network holds ``members`` independent copies (one per training seed) along
the leading dimension of each parameter and buffer, and runs them all with
batched matmuls on inputs shaped (members, batch, features). Nothing mixes
members: a member's outputs and gradients depend only on its own parameters and
inputs, so S seeds trained together are S single-seed trainings, paying Python
and framework overhead once per step instead of S times. A network is built with
one member (under its seed's RNG) and ``stack_members`` joins several;
``PolicyNet.member`` takes one out again.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import nn
from torch.nn import functional as F

from training.config import PolicyConfig
from training.fused import QuantizedPolicy, quantize_policy, quantized_mlp, quantized_mlp_inference
from training.quant import ActQuant, qdq_weight

# CleanRL's bounds on SAC's log standard deviation.
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0

Stackable = TypeVar("Stackable", bound=nn.Module)


class StackedLinear(nn.Module):
    """Independent linear layers in -> out, one per member: weight (members, out, in), bias (members, out).

    Built with one member, initialised as ``nn.Linear`` is (uniform within 1/sqrt(in), weight then bias).
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(1, out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(1, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(members, batch, in) -> (members, batch, out)."""
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


def _module_tensors(module: nn.Module) -> list[tuple[dict, str]]:
    """Where each parameter and buffer of ``module`` (and its children) lives: (owner's dict, name)."""
    slots = []
    for owner in module.modules():
        slots += [(owner._parameters, name) for name, value in owner._parameters.items() if value is not None]
        slots += [(owner._buffers, name) for name, value in owner._buffers.items() if value is not None]
    return slots


def _tensor(slot: tuple[dict, str]) -> torch.Tensor:
    table, name = slot
    return table[name]


def _replace(slot: tuple[dict, str], value: torch.Tensor) -> None:
    table, name = slot
    old = table[name]
    table[name] = nn.Parameter(value, requires_grad=old.requires_grad) if isinstance(old, nn.Parameter) else value


@torch.no_grad()
def stack_members(networks: Sequence[Stackable]) -> Stackable:
    """One network holding ``networks`` (same class and sizes) as its members, in order."""
    stacked = copy.deepcopy(networks[0])
    sources = [_module_tensors(network) for network in networks]
    for position, slot in enumerate(_module_tensors(stacked)):
        _replace(slot, torch.cat([_tensor(slots[position]).detach() for slots in sources]))
    return stacked


@torch.no_grad()
def member_of(network: Stackable, index: int, members: int) -> Stackable:
    """A one-member copy of member ``index`` of a network of ``members``."""
    single = copy.deepcopy(network)
    for slot in _module_tensors(single):
        rows = _tensor(slot).shape[0] // members
        _replace(slot, _tensor(slot)[index * rows : (index + 1) * rows].clone())
    return single


def build_members(seeds: Sequence[int], build: Callable[[], tuple[nn.Module, ...]]) -> tuple[nn.Module, ...]:
    """``build()`` once per seed under that seed's torch RNG (as a one-seed run would), each network stacked."""
    built = []
    for seed in seeds:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            built.append(build())
    return tuple(stack_members(list(networks)) for networks in zip(*built))


def member_randn(shape: Sequence[int], generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Standard normal noise of ``shape`` for each member, drawn from that member's generator."""
    return torch.stack([torch.randn(shape, generator=generator) for generator in generators])


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

    A one-member net also takes a plain (batch, obs) input. Its state in the
    single-policy layout of a checkpoint (``fc1.weight`` as (out, in), scales as
    scalars) is ``member_state_dict``; ``from_member_state_dict`` reads it back.
    """

    def __init__(self, obs_dim: int, act_dim: int, config: PolicyConfig):
        super().__init__()
        self.config = config
        self.fc1 = StackedLinear(obs_dim, config.width)
        self.fc2 = StackedLinear(config.width, config.width)
        self.fc3 = StackedLinear(config.width, act_dim)
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

    @property
    def members(self) -> int:
        return self.fc1.weight.shape[0]

    def member(self, index: int) -> PolicyNet:
        """Member ``index`` as a one-member net of its own (a copy)."""
        single = member_of(self, index, self.members)
        single.parameters_written()
        return single

    def finite_members(self) -> torch.Tensor:
        """Per member, whether every float weight and buffer of its own is finite (NaN or infinity: it diverged)."""
        finite = torch.ones(self.members, dtype=torch.bool)
        for tensor in [*self.parameters(), *self.buffers()]:
            if tensor.is_floating_point() and tensor.dim() > 0 and tensor.shape[0] == self.members:
                finite &= torch.isfinite(tensor.detach()).reshape(self.members, -1).all(dim=1)
        return finite

    def member_state_dict(self, index: int = 0) -> dict[str, torch.Tensor]:
        return {name: tensor[index].clone() for name, tensor in self.state_dict().items()}

    @classmethod
    def from_member_state_dict(cls, obs_dim: int, act_dim: int, config: PolicyConfig, state: dict) -> PolicyNet:
        net = cls(obs_dim, act_dim, config)
        net.load_state_dict({name: tensor.unsqueeze(0) for name, tensor in state.items()})
        return net

    def linears(self) -> tuple[StackedLinear, StackedLinear, StackedLinear]:
        return self.fc1, self.fc2, self.fc3

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
        """(members, batch, obs) -> (members, batch, actions); a one-member net also (batch, obs) -> (batch, actions)."""
        if obs.dim() == 2 and self.members == 1:
            return self.forward(obs.unsqueeze(0)).squeeze(0)
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
        for layer, quant in zip(self.linears(), self.quantizers()[1:]):
            pre = torch.baddbmm(layer.bias.unsqueeze(1), x, qdq_weight(layer.weight, self.config.core_bits).transpose(1, 2))
            x = quant(pre)
        return x

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
    """What runs on the device: normalized observation batch -> action in [-1, 1] (a one-member net)."""

    def __init__(self, net: PolicyNet):
        super().__init__()
        if net.members != 1:
            raise ValueError(f"a deployed policy is one member, not {net.members}: take PolicyNet.member(i)")
        self.net = net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


class SigmaNet(nn.Module):
    """SAC's FP32 log-sigma branch: obs -> width -> actions (one hidden layer), used only in training."""

    def __init__(self, obs_dim: int, act_dim: int, width: int):
        super().__init__()
        self.fc = StackedLinear(obs_dim, width)
        self.fc_logstd = StackedLinear(width, act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        log_std = torch.tanh(self.fc_logstd(F.relu(self.fc(obs))))
        return LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)


class CriticEnsemble(nn.Module):
    """``n`` independent Q(s, a) MLPs (in -> width -> width -> 1) per member, evaluated as one batched matmul.

    Each critic is initialised as its own ``nn.Linear`` stack would be; stacking
    only saves the per-network call overhead that dominates at these sizes. The
    leading dimension of every tensor is members x n, member-major.
    """

    def __init__(self, n: int, obs_dim: int, act_dim: int, width: int):
        super().__init__()
        self.n = n
        sizes = [obs_dim + act_dim, width, width, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(n, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(members, batch, obs), (members, batch, act) -> Q values (members, n, batch)."""
        members, batch = obs.shape[:2]
        x = torch.cat([obs, action], dim=2).unsqueeze(1).expand(-1, self.n, -1, -1).reshape(members * self.n, batch, -1)
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(bias, x, weight)
            if i < last:
                x = F.relu(x)
        return x.view(members, self.n, batch)


def agent_state(agent: object, names: Sequence[str]) -> dict:
    """The state dicts of an agent's networks and optimizers named ``names``."""
    return {name: getattr(agent, name).state_dict() for name in names}


def load_agent_state(agent: object, state: dict) -> None:
    """``agent_state``'s state loaded back, each into the network or optimizer of its name."""
    for name, value in state.items():
        getattr(agent, name).load_state_dict(value)


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
