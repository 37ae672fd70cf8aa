"""Which channels are trunks, phones or Local pipes, and reading Uniqueids."""

from __future__ import annotations

from callcenter.model.endpoints import Kind, PbxEndpoints, epoch_of, local_pair_key, uniqueid_order

VOIPGRID = PbxEndpoints(trunks=("SIP/voipgrid-siproute-*",), trunk_contexts=("voipgrid_in",))


def test_kinds_by_endpoint_pattern_and_context() -> None:
    ours = PbxEndpoints()
    assert ours.kind_of("PJSIP/carrier-0000001f", "from-carrier") is Kind.TRUNK
    # Asterisk creates the channel it dials out on a trunk in the trunk's context too.
    assert ours.kind_of("PJSIP/othercarrier-00000001", "from-trunk") is Kind.TRUNK
    assert ours.kind_of("PJSIP/2001-00000002", "from-phones") is Kind.PHONE
    assert ours.kind_of("Local/2001@from-queue-00000003;2", "from-queue") is Kind.LOCAL
    assert ours.kind_of("OutgoingSpoolFailed", "campaign") is Kind.BOOKKEEPING
    assert VOIPGRID.kind_of("SIP/voipgrid-siproute-docker-0000002b", "voipgrid_in") is Kind.TRUNK
    assert VOIPGRID.kind_of("SIP/150010001-00000022", "osvpi_account") is Kind.PHONE
    # The pattern is on the endpoint: a phone whose name starts like the trunk is no trunk.
    assert ours.kind_of("PJSIP/carrier2-00000001", "from-phones") is Kind.PHONE


def test_a_local_channel_that_ends_the_line_stands_for_its_context() -> None:
    lab = PbxEndpoints(trunks=("Local/*@pstn",), trunk_contexts=("from-pstn",))
    assert lab.pipe_kind("Local/+4930100001@pstn") is Kind.TRUNK
    assert lab.pipe_kind("Local/+4930100001@from-pstn") is Kind.TRUNK
    assert lab.pipe_kind("Local/1004@agents") is Kind.PHONE


def test_local_halves_pair_by_name() -> None:
    one = local_pair_key("Local/ID730151@osvpi_route_phoneaccount-00000007;1")
    assert one == local_pair_key("Local/ID730151@osvpi_route_phoneaccount-00000007;2")
    assert local_pair_key("PJSIP/2001-00000002") is None


def test_uniqueids_with_and_without_the_systemname() -> None:
    assert uniqueid_order("1529936598.168") == (1529936598.0, 168)
    assert uniqueid_order("195176c06ab8-1529936598.168") == (1529936598.0, 168)
    assert uniqueid_order("pbx-b-1795371803.16") == (1795371803.0, 16)
    assert uniqueid_order("1.9") < uniqueid_order("1.10")
    assert epoch_of("garbage", 7.0) == 7.0
