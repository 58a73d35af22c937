from pathlib import Path

import pytest

from printscp.config import ConfigError, PrinterProfile, RenderConfig, load_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_bundled_config_loads_and_resolves_archive_next_to_it() -> None:
    config = load_config(REPO / "config.toml")
    assert config.network.ae_title == "PRINTSCP"
    assert config.network.port == 11112
    assert config.archive.folder == REPO / "films"
    assert config.printer.defaults.film_size_id in config.printer.film_size_ids
    assert "LABEL" in config.printer.annotation_display_formats
    # a laser imager's resolutions decide the printable pixels; the PNGs are drawn at 150 dpi at most
    assert dict(config.printer.resolutions) == {"STANDARD": 300, "HIGH": 600} == PrinterProfile().resolutions
    assert config.render.png_dpi == 150 == RenderConfig().png_dpi


def test_defaults_without_file() -> None:
    config = load_config(None)
    assert (config.network.ae_title, config.network.port, config.archive.folder) == ("PRINTSCP", 11112, Path("films"))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[network]\nport = 'eleven'\n", "network.port: expected an integer"),
        ("[network]\nportt = 11112\n", "network.portt: unknown key"),
        ("[networks]\n", "networks: unknown key"),
        ("[network]\nport = 70000\n", "network.port: must be between 0 and 65535"),
        ("[network]\nae_title = 'A_TITLE_THAT_IS_TOO_LONG'\n", "network.ae_title"),
        ("[network]\nallowed_calling_ae_titles = ['OK', 'BAD\\\\AE']\n", "network.allowed_calling_ae_titles[1]"),
        ("[printer]\nfilm_size_ids = ['14INX17IN', '15INX18IN']\n", "printer.film_size_ids[1]"),
        ("[printer]\nsupports_trim = 'yes'\n", "printer.supports_trim: expected true or false"),
        ("[printer]\nmagnification_types = ['NONE']\n", "printer.defaults.magnification_type: 'BILINEAR' is not one"),
        ("[printer]\nfilm_size_ids = ['A4']\n", "printer.defaults.film_size_id: '14INX17IN' is not one of A4"),
        ("[printer.defaults]\nmax_density = 400\n", "printer.defaults.min_density"),
        ("[printer.defaults]\nborder_density = 'GREY'\n", "printer.defaults.border_density"),
        ("[printer.resolutions]\nULTRA = 600\n", "printer.resolutions.ULTRA"),
        ("[render]\npng_dpi = 35\n", "render.png_dpi: dots per inch must be 36 to 1200"),
        ("[render]\npng_dpi = 1201\n", "render.png_dpi: dots per inch must be 36 to 1200"),
        ("[render]\npng_dpi = 150.5\n", "render.png_dpi: expected an integer"),
        (
            "[printer.annotation_display_formats.X]\nboxes = [[0.5, 0.5, 0.6, 0.1]]\n",
            "printer.annotation_display_formats.X.boxes[0]",
        ),
        ("[printer.annotation_display_formats.X]\nbox = []\n", "printer.annotation_display_formats.X.box: unknown key"),
        ("[network\n", "is not valid TOML"),
        ("[network]\nartim_timeout = 0\n", "network.artim_timeout: must be positive"),
        ("[network]\npdu_timeout = -1\n", "network.pdu_timeout: must be positive"),
        ("[network]\nidle_timeout = 'long'\n", "network.idle_timeout: expected a number"),
        ("[network]\nmax_pending_connections = 0\n", "network.max_pending_connections: must be at least 1"),
        ("[network]\nmax_connections_per_ip = 0\n", "network.max_connections_per_ip: must be at least 1"),
        ("[network]\nmax_buffered_bytes = 1000\n", "network.max_buffered_bytes: must hold at least one PDU"),
        # relaying (issue 20)
        ("[printer]\nrelay_to = ['NOWHERE']\n", "printer.relay_to[0]: 'NOWHERE' is not one of [nodes] or [paper]"),
        ("[printers.P2]\nrelay_to = ['P2']\n[nodes.P2]\nhost = 'h'\nport = 1\n", "printers.P2.relay_to[0]: a printer"),
        ("[nodes.F]\nhost = 'h'\nport = 1\npreset = 'NOPE'\n", "nodes.F.preset: "),
        ("[paper.P]\nuri = 'http://h/ipp'\n", "paper.P.uri: must be an ipp:// or ipps:// URI"),
        ("[paper.P]\nuri = 'ipp://h/ipp'\nmedia = 'A4'\n", "paper.P.media: must be a PWG media name"),
        ("[paper.P]\nuri = 'ipp://h/ipp'\nscaling = 'stretch'\n", "paper.P.scaling: must be fit or actual"),
        ("[paper.P]\n", "paper.P.uri: required"),
        ("[relay]\nacknowledge = 'never'\n", "relay.acknowledge: must be on_spool or after_relay"),
        ("[relay]\nretry_seconds = 0\n", "relay.retry_seconds: must be more than 0"),
        ("[[relay.rules]]\ntarget = 'X'\ncalling_ae_titles = ['CT']\n", "relay.rules[0].target: 'X' is not one"),
        # the index on PostgreSQL (issue 18)
        ("[index]\nurl = 'mysql://h/db'\n", "index.url: must be a PostgreSQL URL"),
        ("[index]\nurl = 'postgresql://h/db'\npool_size = 0\n", "index.pool_size: must be 1 to 1000"),
        ("[index]\npath = 'x'\n", "index.path: unknown key"),
        # nodes on one port (network.reuse_port) cannot all be <host>:<port>
        (
            "[network]\nreuse_port = true\n[index]\nurl = 'postgresql://h/db'\n[cluster]\nenabled = true\n",
            "cluster.node_id: must be set when network.reuse_port is true",
        ),
        ("[network]\nreuse_port = 'yes'\n", "network.reuse_port"),
    ],
)
def test_errors_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert key in str(error.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_connection_limits_have_their_documented_defaults(tmp_path: Path) -> None:
    network = load_config(REPO / "config.toml").network
    assert (network.artim_timeout, network.pdu_timeout, network.idle_timeout) == (10, 30, 60)
    assert (network.max_pending_connections, network.max_connections_per_ip) == (32, 8)
    assert network.max_buffered_bytes == 64 * 1024 * 1024
    assert load_config(write(tmp_path, "[network]\nidle_timeout = 300\n")).network.idle_timeout == 300
