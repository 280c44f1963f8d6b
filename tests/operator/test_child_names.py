"""Every child of the longest GptOssDeployment name the CRD admits (63 characters) has a name
and labels Kubernetes accepts: the Service's a DNS-1035 label, the download Job's at most 63
characters (its pods carry it as a label), each label value at most 63."""

from __future__ import annotations

import re

import pytest

from gptoss_operator import names

_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("name", ["chat", "c" * 63, "c" + "-0" * 31, "a" * 44 + "-" + "b" * 18])
def test_the_children_of_any_name_the_crd_admits_have_names_kubernetes_accepts(name: str) -> None:
    job = names.download_job_name(name, "0123abcd")
    assert len(job) <= 63 and _DNS_1123_LABEL.match(job), job
    assert job.endswith("-download-0123abcd")
    service = names.service_name(name)
    assert len(service) <= 63 and _DNS_1035.match(service)
    for value in names.common_labels(name, "gpt-oss-20b", "vllm").values():
        assert len(value) <= 63
    for child in (names.deployment_name(name), names.pdb_name(name), names.fence_name(name)):
        assert len(child) <= 253


def test_a_short_name_keeps_its_whole_name_in_its_jobs_name() -> None:
    assert names.download_job_name("chat-120b", "0123abcd") == "chat-120b-download-0123abcd"
