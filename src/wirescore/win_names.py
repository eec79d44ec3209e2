"""Names of the numbers the Windows-protocol parsers read (SMB1/2/3, NTLMSSP, SPNEGO,
DCE-RPC), each list written once beside its values.

The short lists are here, each with the specification it comes from; the long ones are
data files in wirescore/data/win/ (origin and licence in its SOURCES.md): DCE-RPC
interface UUID -> service and opnum -> procedure (Suricata's dcerpc_interfaces.json),
NTSTATUS and FSCTL names. Names are the ones Suricata writes in its EVE `smb` and
`dcerpc` events, so that our lines match its lines.

setup.py runs this file on its own (runpy, like core_names.py) and writes
ext/includes/win_names.h from c_header(): the same tables in C (ws_code rows sorted by
value, the interface table with its procedures, GSS mechanism OIDs in DER) and the
enums the parsers take their constants from (prefixed WSW_). Python (the EVE side, the
tests) imports the tables from here; wirescore._core.msg_dcerpc / msg_smb give the C
tables back for tests/test_win_names.py to compare row by row.

Pure data and the standard library: no import of wirescore or of the compiled core.
"""
from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "win"

# SMB2 commands: [MS-SMB2] 2.2.1.2 (the header's Command field); names as Suricata's
# smb2_command_string() writes EVE smb.command. (C enum name, number, EVE name)
SMB2_COMMANDS = (
    ("SMB2_NEGOTIATE", 0x00, "SMB2_COMMAND_NEGOTIATE_PROTOCOL"),
    ("SMB2_SESSION_SETUP", 0x01, "SMB2_COMMAND_SESSION_SETUP"),
    ("SMB2_LOGOFF", 0x02, "SMB2_COMMAND_SESSION_LOGOFF"),
    ("SMB2_TREE_CONNECT", 0x03, "SMB2_COMMAND_TREE_CONNECT"),
    ("SMB2_TREE_DISCONNECT", 0x04, "SMB2_COMMAND_TREE_DISCONNECT"),
    ("SMB2_CREATE", 0x05, "SMB2_COMMAND_CREATE"),
    ("SMB2_CLOSE", 0x06, "SMB2_COMMAND_CLOSE"),
    ("SMB2_FLUSH", 0x07, "SMB2_COMMAND_FLUSH"),
    ("SMB2_READ", 0x08, "SMB2_COMMAND_READ"),
    ("SMB2_WRITE", 0x09, "SMB2_COMMAND_WRITE"),
    ("SMB2_LOCK", 0x0A, "SMB2_COMMAND_LOCK"),
    ("SMB2_IOCTL", 0x0B, "SMB2_COMMAND_IOCTL"),
    ("SMB2_CANCEL", 0x0C, "SMB2_COMMAND_CANCEL"),
    ("SMB2_ECHO", 0x0D, "SMB2_COMMAND_KEEPALIVE"),
    ("SMB2_QUERY_DIRECTORY", 0x0E, "SMB2_COMMAND_FIND"),
    ("SMB2_CHANGE_NOTIFY", 0x0F, "SMB2_COMMAND_CHANGE_NOTIFY"),
    ("SMB2_QUERY_INFO", 0x10, "SMB2_COMMAND_GET_INFO"),
    ("SMB2_SET_INFO", 0x11, "SMB2_COMMAND_SET_INFO"),
    ("SMB2_OPLOCK_BREAK", 0x12, "SMB2_COMMAND_OPLOCK_BREAK"),
)

# SMB1 commands: [MS-CIFS] 2.2.2.1 (the header's Command field); names as Suricata's
# smb1_command_string() writes them (it names these 41; any other is written as its
# decimal number, as Suricata does).
SMB1_COMMANDS = (
    ("SMB1_CREATE_DIRECTORY", 0x00, "SMB1_COMMAND_CREATE_DIRECTORY"),
    ("SMB1_DELETE_DIRECTORY", 0x01, "SMB1_COMMAND_DELETE_DIRECTORY"),
    ("SMB1_OPEN", 0x02, "SMB1_COMMAND_OPEN"),
    ("SMB1_CREATE", 0x03, "SMB1_COMMAND_CREATE"),
    ("SMB1_CLOSE", 0x04, "SMB1_COMMAND_CLOSE"),
    ("SMB1_FLUSH", 0x05, "SMB1_COMMAND_FLUSH"),
    ("SMB1_DELETE", 0x06, "SMB1_COMMAND_DELETE"),
    ("SMB1_RENAME", 0x07, "SMB1_COMMAND_RENAME"),
    ("SMB1_QUERY_INFORMATION", 0x08, "SMB1_COMMAND_QUERY_INFORMATION"),
    ("SMB1_SET_INFORMATION", 0x09, "SMB1_COMMAND_SET_INFORMATION"),
    ("SMB1_READ", 0x0A, "SMB1_COMMAND_READ"),
    ("SMB1_WRITE", 0x0B, "SMB1_COMMAND_WRITE"),
    ("SMB1_LOCK_BYTE_RANGE", 0x0C, "SMB1_COMMAND_LOCK_BYTE_RANGE"),
    ("SMB1_UNLOCK_BYTE_RANGE", 0x0D, "SMB1_COMMAND_UNLOCK_BYTE_RANGE"),
    ("SMB1_CREATE_TEMPORARY", 0x0E, "SMB1_COMMAND_CREATE_TEMPORARY"),
    ("SMB1_CREATE_NEW", 0x0F, "SMB1_COMMAND_CREATE_NEW"),
    ("SMB1_CHECK_DIRECTORY", 0x10, "SMB1_COMMAND_CHECK_DIRECTORY"),
    ("SMB1_PROCESS_EXIT", 0x11, "SMB1_COMMAND_PROCESS_EXIT"),
    ("SMB1_SEEK", 0x12, "SMB1_COMMAND_SEEK"),
    ("SMB1_LOCK_AND_READ", 0x13, "SMB1_COMMAND_LOCK_AND_READ"),
    ("SMB1_WRITE_AND_UNLOCK", 0x14, "SMB1_COMMAND_WRITE_AND_UNLOCK"),
    ("SMB1_LOCKING_ANDX", 0x24, "SMB1_COMMAND_LOCKING_ANDX"),
    ("SMB1_ECHO", 0x2B, "SMB1_COMMAND_ECHO"),
    ("SMB1_WRITE_AND_CLOSE", 0x2C, "SMB1_COMMAND_WRITE_AND_CLOSE"),
    ("SMB1_OPEN_ANDX", 0x2D, "SMB1_COMMAND_OPEN_ANDX"),
    ("SMB1_READ_ANDX", 0x2E, "SMB1_COMMAND_READ_ANDX"),
    ("SMB1_WRITE_ANDX", 0x2F, "SMB1_COMMAND_WRITE_ANDX"),
    ("SMB1_TRANS", 0x25, "SMB1_COMMAND_TRANS"),
    ("SMB1_TRANS2", 0x32, "SMB1_COMMAND_TRANS2"),
    ("SMB1_TRANS2_SECONDARY", 0x33, "SMB1_COMMAND_TRANS2_SECONDARY"),
    ("SMB1_FIND_CLOSE2", 0x34, "SMB1_COMMAND_FIND_CLOSE2"),
    ("SMB1_TREE_DISCONNECT", 0x71, "SMB1_COMMAND_TREE_DISCONNECT"),
    ("SMB1_NEGOTIATE", 0x72, "SMB1_COMMAND_NEGOTIATE_PROTOCOL"),
    ("SMB1_SESSION_SETUP_ANDX", 0x73, "SMB1_COMMAND_SESSION_SETUP_ANDX"),
    ("SMB1_LOGOFF_ANDX", 0x74, "SMB1_COMMAND_LOGOFF_ANDX"),
    ("SMB1_TREE_CONNECT_ANDX", 0x75, "SMB1_COMMAND_TREE_CONNECT_ANDX"),
    ("SMB1_QUERY_INFO_DISK", 0x80, "SMB1_COMMAND_QUERY_INFO_DISK"),
    ("SMB1_NT_TRANS", 0xA0, "SMB1_COMMAND_NT_TRANS"),
    ("SMB1_NT_TRANS_SECONDARY", 0xA1, "SMB1_COMMAND_NT_TRANS_SECONDARY"),
    ("SMB1_NT_CREATE_ANDX", 0xA2, "SMB1_COMMAND_NT_CREATE_ANDX"),
    ("SMB1_NT_CANCEL", 0xA4, "SMB1_COMMAND_NT_CANCEL"),
)

# SMB2 dialect revisions: [MS-SMB2] 2.2.3 (0x02FF: the SMB1 negotiate's "SMB 2.???",
# 2.2.4); names as Suricata's smb2_dialect_string() writes EVE smb.dialect
SMB2_DIALECTS = (
    ("SMB2_DIALECT_202", 0x0202, "2.02"),
    ("SMB2_DIALECT_210", 0x0210, "2.10"),
    ("SMB2_DIALECT_222", 0x0222, "2.22"),
    ("SMB2_DIALECT_224", 0x0224, "2.24"),
    ("SMB2_DIALECT_2FF", 0x02FF, "2.??"),
    ("SMB2_DIALECT_300", 0x0300, "3.00"),
    ("SMB2_DIALECT_302", 0x0302, "3.02"),
    ("SMB2_DIALECT_310", 0x0310, "3.10"),
    ("SMB2_DIALECT_311", 0x0311, "3.11"),
)

# SMB 3.1.1 negotiate context types: [MS-SMB2] 2.2.3.1
SMB2_NEG_CONTEXTS = (
    ("SMB2_CTX_PREAUTH", 0x0001, "SMB2_PREAUTH_INTEGRITY_CAPABILITIES"),
    ("SMB2_CTX_ENCRYPTION", 0x0002, "SMB2_ENCRYPTION_CAPABILITIES"),
    ("SMB2_CTX_COMPRESSION", 0x0003, "SMB2_COMPRESSION_CAPABILITIES"),
    ("SMB2_CTX_NETNAME", 0x0005, "SMB2_NETNAME_NEGOTIATE_CONTEXT_ID"),
    ("SMB2_CTX_TRANSPORT", 0x0006, "SMB2_TRANSPORT_CAPABILITIES"),
    ("SMB2_CTX_RDMA", 0x0007, "SMB2_RDMA_TRANSFORM_CAPABILITIES"),
    ("SMB2_CTX_SIGNING", 0x0008, "SMB2_SIGNING_CAPABILITIES"),
    ("SMB2_CTX_RESERVED", 0x0100, "SMB2_CONTEXTTYPE_RESERVED"),
)

# compression algorithms: [MS-SMB2] 2.2.3.1.3 (the negotiate context and the compression
# transform header, 2.2.42)
SMB2_COMPRESSION = (
    ("SMB2_COMP_NONE", 0x0000, "NONE"),
    ("SMB2_COMP_LZNT1", 0x0001, "LZNT1"),
    ("SMB2_COMP_LZ77", 0x0002, "LZ77"),
    ("SMB2_COMP_LZ77_HUFFMAN", 0x0003, "LZ77+Huffman"),
    ("SMB2_COMP_PATTERN_V1", 0x0004, "Pattern_V1"),
    ("SMB2_COMP_LZ4", 0x0005, "LZ4"),
)

# encryption ciphers: [MS-SMB2] 2.2.3.1.2; signing algorithms: 2.2.3.1.7; preauth
# integrity hash algorithms: 2.2.3.1.1
SMB2_CIPHERS = (
    ("SMB2_CIPHER_AES128_CCM", 0x0001, "AES-128-CCM"),
    ("SMB2_CIPHER_AES128_GCM", 0x0002, "AES-128-GCM"),
    ("SMB2_CIPHER_AES256_CCM", 0x0003, "AES-256-CCM"),
    ("SMB2_CIPHER_AES256_GCM", 0x0004, "AES-256-GCM"),
)
SMB2_SIGNING = (
    ("SMB2_SIGN_HMAC_SHA256", 0x0000, "HMAC-SHA256"),
    ("SMB2_SIGN_AES_CMAC", 0x0001, "AES-CMAC"),
    ("SMB2_SIGN_AES_GMAC", 0x0002, "AES-GMAC"),
)
SMB2_HASHES = (
    ("SMB2_HASH_SHA512", 0x0001, "SHA-512"),
)

# TREE_CONNECT response ShareType: [MS-SMB2] 2.2.10 (DISK, PIPE, PRINT); names as
# Suricata writes EVE smb.share_type
SMB2_SHARE_TYPES = (
    ("SMB2_SHARE_DISK", 0x01, "FILE"),
    ("SMB2_SHARE_PIPE", 0x02, "PIPE"),
    ("SMB2_SHARE_PRINT", 0x03, "PRINT"),
)

# CREATE request CreateDisposition: [MS-SMB2] 2.2.13; names as Suricata writes EVE
# smb.disposition
SMB2_DISPOSITIONS = (
    ("SMB2_FILE_SUPERSEDE", 0, "FILE_SUPERSEDE"),
    ("SMB2_FILE_OPEN", 1, "FILE_OPEN"),
    ("SMB2_FILE_CREATE", 2, "FILE_CREATE"),
    ("SMB2_FILE_OPEN_IF", 3, "FILE_OPEN_IF"),
    ("SMB2_FILE_OVERWRITE", 4, "FILE_OVERWRITE"),
    ("SMB2_FILE_OVERWRITE_IF", 5, "FILE_OVERWRITE_IF"),
)

# CREATE response CreateAction: [MS-SMB2] 2.2.14
SMB2_CREATE_ACTIONS = (
    ("SMB2_FILE_SUPERSEDED", 0, "FILE_SUPERSEDED"),
    ("SMB2_FILE_OPENED", 1, "FILE_OPENED"),
    ("SMB2_FILE_CREATED", 2, "FILE_CREATED"),
    ("SMB2_FILE_OVERWRITTEN", 3, "FILE_OVERWRITTEN"),
)

# NetBIOS session service packet types: RFC 1002 4.3.1 (SMB over TCP 445 sends only
# session messages: [MS-SMB2] 2.1)
NBSS_TYPES = (
    ("NBSS_MESSAGE", 0x00, "SESSION MESSAGE"),
    ("NBSS_REQUEST", 0x81, "SESSION REQUEST"),
    ("NBSS_POSITIVE", 0x82, "POSITIVE SESSION RESPONSE"),
    ("NBSS_NEGATIVE", 0x83, "NEGATIVE SESSION RESPONSE"),
    ("NBSS_RETARGET", 0x84, "RETARGET SESSION RESPONSE"),
    ("NBSS_KEEPALIVE", 0x85, "SESSION KEEP ALIVE"),
)

# NTLMSSP MessageType: [MS-NLMP] 2.2.1.1-2.2.1.3
NTLMSSP_TYPES = (
    ("NTLM_NEGOTIATE", 1, "NEGOTIATE"),
    ("NTLM_CHALLENGE", 2, "CHALLENGE"),
    ("NTLM_AUTHENTICATE", 3, "AUTHENTICATE"),
)

# GSS-API mechanisms a security blob names (SPNEGO mechTypes, the GSS token's OID):
# Kerberos RFC 4121 1.1 (and Microsoft's legacy OID, [MS-KILE] 3.1.5.2 / RFC 4178 note),
# Kerberos user-to-user (RFC 4121's krb5 OID arc .3, draft-ietf-cat-user2user), NTLMSSP
# and NEGOEX ([MS-SPNG] 1.9, [MS-NEGOEX] 1.9), SPNEGO itself (RFC 4178 4.1).
GSS_MECHS = (
    ("GSS_MECH_KRB5", "1.2.840.113554.1.2.2", "krb5"),
    ("GSS_MECH_MSKRB5", "1.2.840.48018.1.2.2", "mskrb5"),
    ("GSS_MECH_KRB5_U2U", "1.2.840.113554.1.2.2.3", "krb5-u2u"),
    ("GSS_MECH_NTLMSSP", "1.3.6.1.4.1.311.2.2.10", "ntlmssp"),
    ("GSS_MECH_NEGOEX", "1.3.6.1.4.1.311.2.2.30", "negoex"),
    ("GSS_MECH_SPNEGO", "1.3.6.1.5.5.2", "spnego"),
)

# DCE-RPC packet types: C706 12.6.4 (PTYPE) and [MS-RPCE] 2.2.2.1 (rts = 20); names as
# Suricata's dcerpc_type_string() writes EVE dcerpc.request / response
DCERPC_PTYPES = (
    ("DCE_REQUEST", 0, "REQUEST"),
    ("DCE_PING", 1, "PING"),
    ("DCE_RESPONSE", 2, "RESPONSE"),
    ("DCE_FAULT", 3, "FAULT"),
    ("DCE_WORKING", 4, "WORKING"),
    ("DCE_NOCALL", 5, "NOCALL"),
    ("DCE_REJECT", 6, "REJECT"),
    ("DCE_ACK", 7, "ACK"),
    ("DCE_CL_CANCEL", 8, "CL_CANCEL"),
    ("DCE_FACK", 9, "FACK"),
    ("DCE_CANCEL_ACK", 10, "CANCEL_ACK"),
    ("DCE_BIND", 11, "BIND"),
    ("DCE_BIND_ACK", 12, "BINDACK"),
    ("DCE_BIND_NAK", 13, "BINDNAK"),
    ("DCE_ALTER_CONTEXT", 14, "ALTER_CONTEXT"),
    ("DCE_ALTER_CONTEXT_RESP", 15, "ALTER_CONTEXT_RESP"),
    ("DCE_AUTH3", 16, "AUTH3"),
    ("DCE_SHUTDOWN", 17, "SHUTDOWN"),
    ("DCE_CO_CANCEL", 18, "CO_CANCEL"),
    ("DCE_ORPHANED", 19, "ORPHANED"),
    ("DCE_RTS", 20, "RTS"),
)

# BIND_ACK p_result_t.result: C706 12.6.3.1 (p_cont_def_result_t) and [MS-RPCE]
# 2.2.2.4 (negotiate_ack, for bind time feature negotiation); .reason: C706
# 12.6.3.1 (p_provider_reason_t) and [MS-RPCE] 2.2.2.5 (reason 3)
DCERPC_BIND_RESULTS = (
    ("DCE_ACCEPTANCE", 0, "acceptance"),
    ("DCE_USER_REJECTION", 1, "user_rejection"),
    ("DCE_PROVIDER_REJECTION", 2, "provider_rejection"),
    ("DCE_NEGOTIATE_ACK", 3, "negotiate_ack"),
)
DCERPC_BIND_REASONS = (
    ("DCE_REASON_NOT_SPECIFIED", 0, "reason_not_specified"),
    ("DCE_ABSTRACT_SYNTAX_NOT_SUPPORTED", 1, "abstract_syntax_not_supported"),
    ("DCE_TRANSFER_SYNTAXES_NOT_SUPPORTED", 2, "proposed_transfer_syntaxes_not_supported"),
    ("DCE_LOCAL_LIMIT_EXCEEDED", 3, "local_limit_exceeded"),
)

# sec_trailer auth_type: [MS-RPCE] 2.2.1.1.7 (RPC_C_AUTHN_*)
DCERPC_AUTH_TYPES = (
    ("DCE_AUTHN_NONE", 0x00, "none"),
    ("DCE_AUTHN_GSS_NEGOTIATE", 0x09, "spnego"),
    ("DCE_AUTHN_WINNT", 0x0A, "ntlmssp"),
    ("DCE_AUTHN_GSS_SCHANNEL", 0x0E, "schannel"),
    ("DCE_AUTHN_GSS_KERBEROS", 0x10, "kerberos"),
    ("DCE_AUTHN_NETLOGON", 0x44, "netlogon"),
    ("DCE_AUTHN_DEFAULT", 0xFF, "default"),
)

# transfer syntaxes of a presentation context: NDR (C706 14, [MS-RPCE] 2.2.4.12), NDR64
# ([MS-RPCE] 2.2.5.1), and the bind time feature negotiation "syntax" ([MS-RPCE]
# 3.3.1.5.3: the UUID 6cb71c2c-9812-4540 with the feature bits in its last 8 bytes,
# matched on its first 8 bytes). (C enum name, UUID, version, name)
DCERPC_TRANSFER_SYNTAXES = (
    ("DCE_SYNTAX_NDR", "8a885d04-1ceb-11c9-9fe8-08002b104860", 2, "NDR"),
    ("DCE_SYNTAX_NDR64", "71710533-beba-4937-8319-b5dbef9ccc36", 1, "NDR64"),
    ("DCE_SYNTAX_BTFN", "6cb71c2c-9812-4540-0000-000000000000", 1, "bind_time_feature_negotiation"),
)

# Microsoft's published interface UUIDs (section 1.9 "Standards Assignments" of each open
# specification; the endpoint mapper: C706 Appendix L and [MS-RPCE] 1.9), with their
# published version: the names must be the ones Suricata's table gives these UUIDs
# (tests/test_win_names.py checks it), and a UUID Suricata's table lacked would be
# named from here. (specification, UUID, version, name)
MS_INTERFACES = (
    ("MS-DRSR", "e3514235-4b06-11d1-ab04-00c04fc2dcd2", "4.0", "drsuapi"),
    ("MS-DRSR", "7c44d7d4-31d5-424c-bd5e-2b3e1f323d22", "1.0", "dsaop"),
    ("MS-SCMR", "367abb81-9844-35f1-ad32-98f038001003", "2.0", "svcctl"),
    ("MS-SAMR", "12345778-1234-abcd-ef00-0123456789ac", "1.0", "samr"),
    ("MS-LSAD, MS-LSAT", "12345778-1234-abcd-ef00-0123456789ab", "0.0", "lsarpc"),
    ("MS-NRPC", "12345678-1234-abcd-ef00-01234567cffb", "1.0", "netlogon"),
    ("MS-SRVS", "4b324fc8-1670-01d3-1278-5a47bf6ee188", "3.0", "srvsvc"),
    ("MS-WKST", "6bffd098-a112-3610-9833-46c3f87e345a", "1.0", "wkssvc"),
    ("MS-RRP", "338cd001-2244-31f1-aaaa-900038001003", "1.0", "winreg"),
    ("MS-RPRN", "12345678-1234-abcd-ef00-0123456789ab", "1.0", "spoolss"),
    ("MS-PAR", "76f03f96-cdfd-44fc-a22c-64950a001209", "1.0", "IRemoteWinspool"),
    ("C706, MS-RPCE", "e1af8308-5d1f-11c9-91a4-08002b14a0fa", "3.0", "epmapper"),
    ("C706, MS-RPCE", "afa8bd80-7d8a-11c9-bef4-08002b102989", "1.0", "mgmt"),
    ("MS-DCOM", "000001a0-0000-0000-c000-000000000046", "0.0", "IRemoteSCMActivator"),
    ("MS-DCOM", "4d9f4ab8-7d1c-11cf-861e-0020af6e7c57", "0.0", "IActivation"),
    ("MS-DCOM", "99fcfec4-5260-101b-bbcb-00aa0021347a", "0.0", "IObjectExporter"),
    ("MS-DCOM", "00000131-0000-0000-c000-000000000046", "0.0", "IRemUnknown"),
    ("MS-DCOM", "00000143-0000-0000-c000-000000000046", "0.0", "IRemUnknown2"),
    ("MS-WMI", "f309ad18-d86a-11d0-a075-00c04fb68820", "0.0", "IWbemLevel1Login"),
    ("MS-WMI", "9556dc99-828c-11cf-a37e-00aa003240c7", "0.0", "IWbemServices"),
    ("MS-WMI", "d4781cd6-e5d3-44df-ad94-930efe48a887", "0.0", "IWbemLoginClientID"),
    ("MS-TSCH", "1ff70682-0a51-30e8-076d-740be8cee98b", "1.0", "atsvc"),
    ("MS-TSCH", "378e52b0-c0a9-11cf-822d-00aa0051e40f", "1.0", "sasec"),
    ("MS-TSCH", "86d35949-83c9-4044-b424-db363231fd0c", "1.0", "ITaskSchedulerService"),
    ("MS-EFSR", "df1941c5-fe89-4e79-bf10-463657acf44d", "1.0", "efsrpc"),
    ("MS-EFSR", "c681d488-d850-11d0-8c52-00c04fd90f7e", "1.0", "efsrpc2"),
    ("MS-BKRP", "3dde7c30-165d-11d1-ab8f-00805f14db40", "1.0", "BackupKey"),
    ("MS-DSSP", "3919286a-b10c-11d0-9ba8-00c04fd92ef5", "0.0", "dssetup"),
    ("MS-EVEN", "82273fdc-e32a-18c3-3f78-827929dc23ea", "0.0", "eventlog"),
    ("MS-EVEN6", "f6beaff7-1e19-4fbb-9f8f-b89e2018337c", "1.0", "IEventService"),
    ("MS-DFSNM", "4fc742e0-4a10-11cf-8273-00aa004ae673", "3.0", "netdfs"),
    ("MS-RSP", "894de0c0-0d55-11d3-a322-00c04fa321a1", "1.0", "InitShutdown"),
    ("MS-RSP", "d95afe70-a6d5-4259-822e-2c84da1ddb0d", "1.0", "WindowsShutdown"),
)

# FSCTL codes the SMB2 parser acts on, by their names in fsctl.tsv: the payload of a
# named-pipe transceive ([MS-FSCC] 2.3.49) is a DCE-RPC PDU
FSCTL_CONSTANTS = ("FSCTL_PIPE_TRANSCEIVE",)


def _read_codes(name: str) -> dict[int, str]:
    """A `0xCODE<TAB>NAME` file of DATA as {code: name}, in file (code) order."""
    out = {}
    for line in (DATA / name).read_text().splitlines():
        code, label = line.split("\t")
        out[int(code, 16)] = label
    return out


def _read_interfaces() -> tuple:
    """dcerpc_interfaces.json as ((uuid, service, ((opnum, procedure), ...)), ...),
    sorted by UUID."""
    rows = []
    for line in (DATA / "dcerpc_interfaces.json").read_text().splitlines():
        if line.strip():
            item = json.loads(line)
            procs = tuple(sorted((int(k), v) for k, v in item.get("opcodes", {}).items()))
            rows.append((item["uuid"].lower(), item["service"], procs))
    uuids = {uuid for uuid, _, _ in rows}
    rows += [(uuid, name, ()) for _, uuid, _, name in MS_INTERFACES if uuid not in uuids]
    return tuple(sorted(rows))


#: NTSTATUS code -> name (EVE smb.status)
NT_STATUS = _read_codes("nt_status.tsv")
#: FSCTL code -> name (EVE smb.function)
FSCTLS = _read_codes("fsctl.tsv")
#: DCE-RPC interfaces, sorted by UUID: (uuid, service, ((opnum, procedure), ...))
DCERPC_INTERFACES = _read_interfaces()
#: UUID -> (service, {opnum: procedure}) (EVE dcerpc.interfaces[].service, procedure)
DCERPC_SERVICES = {uuid: (name, dict(procs)) for uuid, name, procs in DCERPC_INTERFACES}

#: the small lists as {value: name}, by table name (the same names as in C)
CODE_LISTS = {
    "smb2_commands": SMB2_COMMANDS, "smb1_commands": SMB1_COMMANDS,
    "smb2_dialects": SMB2_DIALECTS, "smb2_neg_contexts": SMB2_NEG_CONTEXTS,
    "smb2_compression": SMB2_COMPRESSION, "smb2_ciphers": SMB2_CIPHERS,
    "smb2_signing": SMB2_SIGNING, "smb2_hashes": SMB2_HASHES,
    "smb2_share_types": SMB2_SHARE_TYPES, "smb2_dispositions": SMB2_DISPOSITIONS,
    "smb2_create_actions": SMB2_CREATE_ACTIONS, "nbss_types": NBSS_TYPES,
    "ntlmssp_types": NTLMSSP_TYPES, "dcerpc_ptypes": DCERPC_PTYPES,
    "dcerpc_bind_results": DCERPC_BIND_RESULTS, "dcerpc_bind_reasons": DCERPC_BIND_REASONS,
    "dcerpc_auth_types": DCERPC_AUTH_TYPES,
}
NAMES = {key: {value: name for _, value, name in rows} for key, rows in CODE_LISTS.items()}
NAMES["nt_status"] = NT_STATUS
NAMES["fsctl"] = FSCTLS


def name_of(table: str, value: int) -> str:
    """The name of value in table (a CODE_LISTS key, "nt_status" or "fsctl"), or the
    value as Suricata writes an unnamed one: decimal for commands, dialects and packet
    types, "0x%08x" for a status or FSCTL code."""
    found = NAMES[table].get(value)
    if found is not None:
        return found
    return f"0x{value:08x}" if table in ("nt_status", "fsctl") else str(value)


def uuid_bytes(text: str) -> bytes:
    """A UUID's 16 bytes in the order of its text (the parsers' canonical order)."""
    return bytes.fromhex(text.replace("-", ""))


def oid_der(dotted: str) -> bytes:
    """The contents octets of an OBJECT IDENTIFIER (X.690 8.19), without tag and length."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return bytes(out)


def _c_bytes(data: bytes) -> str:
    return "{" + ", ".join(f"0x{b:02x}" for b in data) + "}"


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _c_code_table(table: str, rows) -> list[str]:
    """A ws_code table sorted by value, its length as WSW_N_<TABLE>."""
    rows = sorted(rows)
    out = [f"enum {{ WSW_N_{table.upper()} = {len(rows)} }};",
           f"static const ws_code wsw_{table}[WSW_N_{table.upper()}] = {{"]
    out += [f"    {{0x{value:x}UL, {_c_string(name)}}}," for value, name in rows]
    return out + ["};", ""]


def _c_interfaces() -> list[str]:
    """wsw_ifaces (sorted by UUID bytes; first procedure row, count) and wsw_procs."""
    ifaces, procs = [], []
    for uuid, name, plist in DCERPC_INTERFACES:
        ifaces.append(f"    {{{_c_bytes(uuid_bytes(uuid))}, {_c_string(name)}, "
                      f"{len(procs)}, {len(plist)}}},")
        procs += [f"    {{{opnum}, {_c_string(proc)}}}," for opnum, proc in plist]
    return ([f"enum {{ WSW_N_IFACES = {len(ifaces)}, WSW_N_PROCS = {len(procs)} }};",
             "static const ws_iface wsw_ifaces[WSW_N_IFACES] = {"] + ifaces + ["};",
            "static const ws_proc wsw_procs[WSW_N_PROCS] = {"] + procs + ["};", ""])


def _c_enums() -> list[str]:
    """The parsers' constants: each small list's values, the GSS mechanism rows, the
    transfer syntax rows, the FSCTL constants."""
    out = ["enum {"]
    for rows in CODE_LISTS.values():
        out += [f"    WSW_{ident} = 0x{value:x}," for ident, value, _ in rows]
    out += [f"    WSW_{ident} = {k}," for k, (ident, _, _) in enumerate(GSS_MECHS)]
    out += [f"    WSW_{ident} = {k}," for k, (ident, *_) in enumerate(DCERPC_TRANSFER_SYNTAXES)]
    by_name = {name: code for code, name in FSCTLS.items()}
    out += [f"    WSW_{name} = 0x{by_name[name]:08x}," for name in FSCTL_CONSTANTS]
    out += [f"    WSW_N_GSS_MECHS = {len(GSS_MECHS)},",
            f"    WSW_N_SYNTAXES = {len(DCERPC_TRANSFER_SYNTAXES)}", "};", ""]
    return out


def _c_oids_syntaxes() -> list[str]:
    out = ["static const ws_oid wsw_gss_mechs[WSW_N_GSS_MECHS] = {"]
    for _, dotted, name in GSS_MECHS:
        der = oid_der(dotted)
        padded = der + bytes(16 - len(der))
        out.append(f"    {{{_c_bytes(padded)}, {len(der)}, {_c_string(name)}}},")
    out += ["};", "static const ws_syntax wsw_syntaxes[WSW_N_SYNTAXES] = {"]
    for _, uuid, version, name in DCERPC_TRANSFER_SYNTAXES:
        out.append(f"    {{{_c_bytes(uuid_bytes(uuid))}, {version}, {_c_string(name)}}},")
    return out + ["};", ""]


C_LOOKUPS = """\
/* the name of value in a ws_code table sorted by value, or 0 */
static inline const char* wsw_code_name(const ws_code* t, int n, unsigned long value) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (t[mid].value == value) return t[mid].name;
        if (t[mid].value < value) lo = mid + 1; else hi = mid - 1;
    }
    return 0;
}

/* the row of an interface UUID (16 bytes in text order) in wsw_ifaces, or -1 */
static inline int wsw_iface_row(const unsigned char* uuid) {
    int lo = 0, hi = WSW_N_IFACES - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = memcmp(wsw_ifaces[mid].uuid, uuid, 16);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

/* the procedure name of opnum on interface row iface, or 0 */
static inline const char* wsw_procedure(int iface, unsigned int opnum) {
    int i;
    if (iface < 0 || iface >= WSW_N_IFACES) return 0;
    for (i = wsw_ifaces[iface].first; i < wsw_ifaces[iface].first + wsw_ifaces[iface].count; i++)
        if (wsw_procs[i].opnum == opnum) return wsw_procs[i].name;
    return 0;
}
"""


def c_header() -> str:
    """ext/includes/win_names.h: the enums (WSW_ prefix), the code tables (wsw_<name>,
    sorted by value), the interface and procedure tables, the GSS OIDs and transfer
    syntaxes, and the lookups over them."""
    out = ["/* Generated by setup.py from src/wirescore/win_names.py and"
           " src/wirescore/data/win/: edit those, not this. */",
           "#ifndef WS_WIN_NAMES_H", "#define WS_WIN_NAMES_H", "#include <string.h>", "",
           "typedef struct { unsigned long value; const char* name; } ws_code;",
           "typedef struct { unsigned char uuid[16]; const char* name; int first; int count; }"
           " ws_iface;",
           "typedef struct { unsigned int opnum; const char* name; } ws_proc;",
           "typedef struct { unsigned char der[16]; int len; const char* name; } ws_oid;",
           "typedef struct { unsigned char uuid[16]; unsigned int version; const char* name; }"
           " ws_syntax;", ""]
    out += _c_enums()
    for table, rows in CODE_LISTS.items():
        out += _c_code_table(table, [(value, name) for _, value, name in rows])
    out += _c_code_table("nt_status", NT_STATUS.items())
    out += _c_code_table("fsctl", FSCTLS.items())
    out += _c_interfaces() + _c_oids_syntaxes() + [C_LOOKUPS, "#endif", ""]
    return "\n".join(out)
