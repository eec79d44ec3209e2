"""Names of Kerberos, LDAP, SASL and file-magic things, each value beside its name, once.

Pure data (no import of wirescore or of the compiled core): setup.py runs this file on its
own and writes ext/includes/msg_names.h from c_header(), which the message parsers of
ext/app/ (krb5.pxd, ldap.pxd, bytes.pxd) compile with; the EVE side imports the same
lists. tests/test_msg_names.py checks the compiled tables (wirescore._core.msg_krb5,
msg_ldap, msg_bytes) against these, row by row.

Origins and licences:
- KRB5_MSG_TYPES, KRB5_ETYPES, KRB5_ERRORS: the values of RFC 4120 (message types, error
  codes), RFC 3961/3962/4757/6803/8009 and the IANA "Kerberos Encryption Type Numbers"
  registry (etypes). The names are the strings Suricata writes in EVE krb5.msg_type,
  krb5.encryption / ticket_encryption and krb5.error_code: the Debug strings of the
  kerberos-parser crate (rusticata/kerberos-parser, src/krb5_constants.rs and
  src/krb5_errors.rs, MIT/Apache-2.0) that Suricata's rust/src/krb/log.rs formats
  (GPL-2.0, like this project). A value missing here is written as KRB5_UNKNOWN says.
  `weak` is Suricata's test_weak_encryption() (rust/src/krb/krb5.rs): every etype but
  the AES and Camellia ones is weak, unknown etypes included.
- KRB5_PA_TYPES: the IANA "Pre-authentication and Typed Data" registry (RFC 4120, 6113,
  MS-KILE, MS-SFU, ...) as Wireshark's Kerberos dissector names them (tshark -G values,
  kerberos.padata_type, GPL-2.0-or-later), upper-cased: no EVE field carries them.
- LDAP_OPS, LDAP_RESULTS: the protocolOp choices and resultCode values of RFC 4511
  (4.2-4.14, Appendix A; 4096 RFC 4533, 16654 RFC 3909...), named as Suricata writes
  ldap.request.operation / responses[].operation and result_code (rust/src/ldap/types.rs,
  GPL-2.0); abandon_request (16), which that file logs as "unknown", is named after the
  schema's ldap.request.abandon_request.
- SASL_KINDS: the GSS-API wrap tokens an LDAP SASL layer carries (RFC 4121 4.2.6.2 CFX
  Wrap, RFC 1964 1.2.2 Wrap, MS-NLMP 2.2.2.9 NTLMSSP_MESSAGE_SIGNATURE).
- MAGIC: kinds of file by their first bytes, with the MIME types libmagic (file 5.44,
  `file --mime-type`) gives such files: what tests/test_msg_bytes.py compares with.
  SCRIPT_MARKERS: words that only scripts of one language start with or carry early.
"""

# Kerberos message types (RFC 4120 5.10: the APPLICATION tag of each message)
KRB5_MSG_TYPES = (
    (10, "KRB_AS_REQ"),
    (11, "KRB_AS_REP"),
    (12, "KRB_TGS_REQ"),
    (13, "KRB_TGS_REP"),
    (14, "KRB_AP_REQ"),
    (15, "KRB_AP_REP"),
    (16, "KRB_RESERVED16"),
    (17, "KRB_RESERVED17"),
    (20, "KRB_SAFE"),
    (21, "KRB_PRIV"),
    (22, "KRB_CRED"),
    (30, "KRB_ERROR"),
)

# Kerberos encryption types: (value, Suricata's name, weak as Suricata decides it)
KRB5_ETYPES = (
    (1, "des-cbc-crc", True),
    (2, "des-cbc-md4", True),
    (3, "des-cbc-md5", True),
    (5, "des3-cbc-md5", True),
    (7, "des3-cbc-sha1", True),
    (9, "dsaWithSHA1-CmsOID", True),
    (10, "md5WithRSAEncryption-CmsOID", True),
    (11, "sha1WithRSAEncryption-CmsOID", True),
    (12, "rc2CBC-EnvOID", True),
    (13, "rsaEncryption-EnvOID", True),
    (14, "rsaES-OAEP-ENV-OID", True),
    (15, "des-ede3-cbc-Env-OID", True),
    (16, "des3-cbc-sha1-kd", True),
    (17, "aes128-cts-hmac-sha1-96", False),
    (18, "aes256-cts-hmac-sha1-96", False),
    (19, "aes128-cts-hmac-sha256-128", False),
    (20, "aes256-cts-hmac-sha384-192", False),
    (23, "rc4-hmac", True),
    (24, "rc4-hmac-exp", True),
    (25, "camellia128-cts-cmac", False),
    (26, "camellia256-cts-cmac", False),
    (65, "subkey-keymaterial", True),
    (-128, "rc4-md4", True),
    (-129, "rc4-plain2", True),
    (-130, "rc4-lm", True),
    (-131, "rc4-sha", True),
    (-132, "des-plain", True),
    (-133, "rc4-hmac-OLD", True),
    (-134, "rc4-plain-OLD", True),
    (-135, "rc4-hmac-OLD-exp", True),
    (-136, "rc4-plain-OLD-exp", True),
    (-140, "rc4-plain", True),
    (-141, "rc4-plain-exp", True),
)

# Kerberos error codes (RFC 4120 7.5.9, RFC 4556, RFC 6113...)
KRB5_ERRORS = (
    (0, "KDC_ERR_NONE"),
    (1, "KDC_ERR_NAME_EXP"),
    (2, "KDC_ERR_SERVICE_EXP"),
    (3, "KDC_ERR_BAD_PVNO"),
    (4, "KDC_ERR_C_OLD_MAST_KVNO"),
    (5, "KDC_ERR_S_OLD_MAST_KVNO"),
    (6, "KDC_ERR_C_PRINCIPAL_UNKNOWN"),
    (7, "KDC_ERR_S_PRINCIPAL_UNKNOWN"),
    (8, "KDC_ERR_PRINCIPAL_NOT_UNIQUE"),
    (9, "KDC_ERR_NULL_KEY"),
    (10, "KDC_ERR_CANNOT_POSTDATE"),
    (11, "KDC_ERR_NEVER_VALID"),
    (12, "KDC_ERR_POLICY"),
    (13, "KDC_ERR_BADOPTION"),
    (14, "KDC_ERR_ETYPE_NOSUPP"),
    (15, "KDC_ERR_SUMTYPE_NOSUPP"),
    (16, "KDC_ERR_PADATA_TYPE_NOSUPP"),
    (17, "KDC_ERR_TRTYPE_NOSUPP"),
    (18, "KDC_ERR_CLIENT_REVOKED"),
    (19, "KDC_ERR_SERVICE_REVOKED"),
    (20, "KDC_ERR_TGT_REVOKED"),
    (21, "KDC_ERR_CLIENT_NOTYET"),
    (22, "KDC_ERR_SERVICE_NOTYET"),
    (23, "KDC_ERR_KEY_EXPIRED"),
    (24, "KDC_ERR_PREAUTH_FAILED"),
    (25, "KDC_ERR_PREAUTH_REQUIRED"),
    (26, "KDC_ERR_SERVER_NOMATCH"),
    (27, "KDC_ERR_MUST_USE_USER2USER"),
    (28, "KDC_ERR_PATH_NOT_ACCEPTED"),
    (29, "KDC_ERR_SVC_UNAVAILABLE"),
    (31, "KRB_AP_ERR_BAD_INTEGRITY"),
    (32, "KRB_AP_ERR_TKT_EXPIRED"),
    (33, "KRB_AP_ERR_TKT_NYV"),
    (34, "KRB_AP_ERR_REPEAT"),
    (35, "KRB_AP_ERR_NOT_US"),
    (36, "KRB_AP_ERR_BADMATCH"),
    (37, "KRB_AP_ERR_SKEW"),
    (38, "KRB_AP_ERR_BADADDR"),
    (39, "KRB_AP_ERR_BADVERSION"),
    (40, "KRB_AP_ERR_MSG_TYPE"),
    (41, "KRB_AP_ERR_MODIFIED"),
    (42, "KRB_AP_ERR_BADORDER"),
    (44, "KRB_AP_ERR_BADKEYVER"),
    (45, "KRB_AP_ERR_NOKEY"),
    (46, "KRB_AP_ERR_MUT_FAIL"),
    (47, "KRB_AP_ERR_BADDIRECTION"),
    (48, "KRB_AP_ERR_METHOD"),
    (49, "KRB_AP_ERR_BADSEQ"),
    (50, "KRB_AP_ERR_INAPP_CKSUM"),
    (51, "KRB_AP_PATH_NOT_ACCEPTED"),
    (52, "KRB_ERR_RESPONSE_TOO_BIG"),
    (60, "KRB_ERR_GENERIC"),
    (61, "KRB_ERR_FIELD_TOOLONG"),
    (62, "KDC_ERROR_CLIENT_NOT_TRUSTED"),
    (63, "KDC_ERROR_KDC_NOT_TRUSTED"),
    (64, "KDC_ERROR_INVALID_SIG"),
    (65, "KDC_ERR_KEY_TOO_WEAK"),
    (66, "KDC_ERR_CERTIFICATE_MISMATCH"),
    (67, "KRB_AP_ERR_NO_TGT"),
    (68, "KDC_ERR_WRONG_REALM"),
    (69, "KRB_AP_ERR_USER_TO_USER_REQUIRED"),
    (70, "KDC_ERR_CANT_VERIFY_CERTIFICATE"),
    (71, "KDC_ERR_INVALID_CERTIFICATE"),
    (72, "KDC_ERR_REVOKED_CERTIFICATE"),
    (73, "KDC_ERR_REVOCATION_STATUS_UNKNOWN"),
    (74, "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE"),
    (75, "KDC_ERR_CLIENT_NAME_MISMATCH"),
    (76, "KDC_ERR_KDC_NAME_MISMATCH"),
)

# PA-DATA types (padata-type of PA-DATA, RFC 4120 5.2.7 and the IANA registry)
KRB5_PA_TYPES = (
    (1, "PA-TGS-REQ"),
    (2, "PA-ENC-TIMESTAMP"),
    (3, "PA-PW-SALT"),
    (5, "PA-ENC-UNIX-TIME"),
    (6, "PA-SANDIA-SECUREID"),
    (7, "PA-SESAME"),
    (8, "PA-OSF-DCE"),
    (9, "PA-CYBERSAFE-SECUREID"),
    (10, "PA-AFS3-SALT"),
    (11, "PA-ETYPE-INFO"),
    (12, "PA-SAM-CHALLENGE"),
    (13, "PA-SAM-RESPONSE"),
    (14, "PA-PK-AS-REQ-19"),
    (15, "PA-PK-AS-REP-19"),
    (16, "PA-PK-AS-REQ"),
    (17, "PA-PK-AS-REP"),
    (18, "PA-PK-OCSP-RESPONSE"),
    (19, "PA-ETYPE-INFO2"),
    (20, "PA-USE-SPECIFIED-KVNO"),
    (21, "PA-SAM-REDIRECT"),
    (22, "PA-GET-FROM-TYPED-DATA"),
    (23, "PA-SAM-ETYPE-INFO"),
    (24, "PA-ALT-PRINC"),
    (25, "PA-SERVER-REFERRAL"),
    (30, "PA-SAM-CHALLENGE2"),
    (31, "PA-SAM-RESPONSE2"),
    (41, "PA-EXTRA-TGT"),
    (128, "PA-PAC-REQUEST"),
    (129, "PA-FOR-USER"),
    (130, "PA-FOR-X509-USER"),
    (131, "PA-FOR-CHECK-DUPS"),
    (132, "PA-PK-AS-09-BINDING"),
    (133, "PA-FX-COOKIE"),
    (134, "PA-AUTHENTICATION-SET"),
    (135, "PA-AUTH-SET-SELECTED"),
    (136, "PA-FX-FAST"),
    (137, "PA-FX-ERROR"),
    (138, "PA-ENCRYPTED-CHALLENGE"),
    (141, "PA-OTP-CHALLENGE"),
    (142, "PA-OTP-REQUEST"),
    (143, "PA-OTP-CONFIRM"),
    (144, "PA-OTP-PIN-CHANGE"),
    (145, "PA-EPAK-AS-REQ"),
    (146, "PA-EPAK-AS-REP"),
    (147, "PA-PKINIT-KX"),
    (148, "PA-PKU2U-NAME"),
    (149, "PA-REQ-ENC-PA-REP"),
    (150, "PA-AS-FRESHNESS"),
    (151, "PA-SPAKE"),
    (161, "PA-KERB-KEY-LIST-REQ"),
    (162, "PA-KERB-KEY-LIST-REP"),
    (165, "PA-SUPPORTED-ETYPES"),
    (166, "PA-EXTENDED-ERROR"),
    (167, "PA-PAC-OPTIONS"),
)

#: how Suricata writes a Kerberos value that is not in its table (Rust's Debug of the
#: newtype): str.format with the value
KRB5_UNKNOWN = {"msg_type": "MessageType({})", "etype": "EncryptionType({})",
                "error": "ErrorCode({})", "pa_type": "PA-{}"}

# LDAP protocolOp: (the APPLICATION tag number, Suricata's operation name)
LDAP_OPS = (
    (0, "bind_request"),
    (1, "bind_response"),
    (2, "unbind_request"),
    (3, "search_request"),
    (4, "search_result_entry"),
    (5, "search_result_done"),
    (6, "modify_request"),
    (7, "modify_response"),
    (8, "add_request"),
    (9, "add_response"),
    (10, "del_request"),
    (11, "del_response"),
    (12, "mod_dn_request"),
    (13, "mod_dn_response"),
    (14, "compare_request"),
    (15, "compare_response"),
    (16, "abandon_request"),
    (19, "search_result_reference"),
    (23, "extended_request"),
    (24, "extended_response"),
    (25, "intermediate_response"),
)

# LDAP resultCode (RFC 4511 Appendix A and later RFCs), Suricata's names
LDAP_RESULTS = (
    (0, "success"),
    (1, "operations_error"),
    (2, "protocol_error"),
    (3, "time_limit_exceeded"),
    (4, "size_limit_exceeded"),
    (5, "compare_false"),
    (6, "compare_true"),
    (7, "auth_method_not_supported"),
    (8, "stronger_auth_required"),
    (10, "referral"),
    (11, "admin_limit_exceeded"),
    (12, "unavailable_critical_extension"),
    (13, "confidentiality_required"),
    (14, "sasl_bind_in_progress"),
    (16, "no_such_attribute"),
    (17, "undefined_attribute_type"),
    (18, "inappropriate_matching"),
    (19, "constraint_violation"),
    (20, "attribute_or_value_exists"),
    (21, "invalid_attribute_syntax"),
    (32, "no_such_object"),
    (33, "alias_problem"),
    (34, "invalid_dns_syntax"),
    (35, "is_leaf"),
    (36, "alias_dereferencing_problem"),
    (48, "inappropriate_authentication"),
    (49, "invalid_credentials"),
    (50, "insufficient_access_rights"),
    (51, "busy"),
    (52, "unavailable"),
    (53, "unwilling_to_perform"),
    (54, "loop_detect"),
    (60, "sort_control_missing"),
    (61, "offset_range_error"),
    (64, "naming_violation"),
    (65, "object_class_violation"),
    (66, "not_allowed_on_non_leaf"),
    (67, "not_allowed_on_rdn"),
    (68, "entry_already_exists"),
    (69, "object_class_mods_prohibited"),
    (70, "results_too_large"),
    (71, "affects_multiple_dsas"),
    (76, "control_error"),
    (80, "other"),
    (81, "server_down"),
    (82, "local_error"),
    (83, "encoding_error"),
    (84, "decoding_error"),
    (85, "timeout"),
    (86, "auth_unknown"),
    (87, "filter_error"),
    (88, "user_canceled"),
    (89, "param_error"),
    (90, "no_memory"),
    (91, "connect_error"),
    (92, "not_supported"),
    (93, "control_not_found"),
    (94, "no_results_returned"),
    (95, "more_results_to_return"),
    (96, "client_loop"),
    (97, "referral_limit_exceeded"),
    (100, "invalid_response"),
    (101, "ambiguous_response"),
    (112, "tls_not_supported"),
    (113, "intermediate_response"),
    (114, "unknown_type"),
    (118, "canceled"),
    (119, "no_such_operation"),
    (120, "too_late"),
    (121, "cannot_cancel"),
    (122, "assertion_failed"),
    (123, "authorization_denied"),
    (4096, "e_sync_refresh_required"),
    (16654, "no_operation"),
)
#: how Suricata writes an LDAP value missing above: its number; "unknown" for an op
LDAP_UNKNOWN_OP = "unknown"

# The security layer of a SASL-wrapped LDAP message (the token after the 4-byte length)
SASL_KINDS = (
    ("SASL_NONE", "none"),                 # not a SASL buffer
    ("SASL_KRB5_CFX", "krb5-cfx"),         # 05 04: RFC 4121 Wrap token (AES etypes)
    ("SASL_KRB5_1964", "krb5-rfc1964"),    # 60 ..: RFC 1964 Wrap token (RC4, DES)
    ("SASL_NTLMSSP", "ntlmssp"),           # 01 00 00 00: NTLMSSP message signature
    ("SASL_OTHER", "other"),               # a plausible length, an unknown token
)

# File kinds by their first bytes: (C enum name, name, MIME types libmagic gives them)
MAGIC = (
    ("MAGIC_NONE", "none", ()),
    ("MAGIC_PE", "pe", ("application/vnd.microsoft.portable-executable",)),
    ("MAGIC_MZ", "mz", ("application/x-dosexec",)),
    ("MAGIC_ELF", "elf", ("application/x-executable", "application/x-sharedlib",
                          "application/x-pie-executable", "application/x-object",
                          "application/x-coredump")),
    ("MAGIC_MACHO", "macho", ("application/x-mach-binary",)),
    ("MAGIC_MACHO_FAT", "macho-fat", ("application/x-mach-binary",)),
    ("MAGIC_JAVA_CLASS", "java-class", ("application/x-java-applet",)),
    ("MAGIC_SHEBANG", "script", ("text/x-shellscript", "text/x-script.python",
                                 "text/x-perl", "text/x-ruby", "text/plain")),
    ("MAGIC_POWERSHELL", "powershell", ("text/plain",)),
    ("MAGIC_VBSCRIPT", "vbscript", ("text/plain",)),
    ("MAGIC_JSCRIPT", "jscript", ("text/plain", "application/javascript")),
    ("MAGIC_ZIP", "zip", ("application/zip", "application/java-archive",
                          "application/vnd.openxmlformats-officedocument.wordprocessingml.document")),
    ("MAGIC_RAR", "rar", ("application/x-rar", "application/vnd.rar")),
    ("MAGIC_7Z", "7z", ("application/x-7z-compressed",)),
    ("MAGIC_GZIP", "gzip", ("application/gzip",)),
    ("MAGIC_CAB", "cab", ("application/vnd.ms-cab-compressed",)),
    ("MAGIC_PDF", "pdf", ("application/pdf",)),
    ("MAGIC_OLE", "ole", ("application/x-ole-storage", "application/msword",
                          "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
                          "application/vnd.ms-office", "application/x-msi")),
)

# Words that mark a script (kind, marker): matched without regard to case in the first
# bytes of a mostly printable payload (SCRIPT_WINDOW in bytes.pxd); the first marker in
# this order that occurs decides. Generic words ("var", "dim") are left out: they occur
# in plain text and in web pages.
SCRIPT_MARKERS = (
    ("MAGIC_POWERSHELL", "invoke-expression"),
    ("MAGIC_POWERSHELL", "invoke-webrequest"),
    ("MAGIC_POWERSHELL", "new-object "),
    ("MAGIC_POWERSHELL", "-encodedcommand"),
    ("MAGIC_POWERSHELL", "[system."),
    ("MAGIC_POWERSHELL", "$env:"),
    ("MAGIC_POWERSHELL", "write-host"),
    ("MAGIC_POWERSHELL", "set-strictmode"),
    ("MAGIC_POWERSHELL", "[cmdletbinding("),
    ("MAGIC_POWERSHELL", "powershell"),
    ("MAGIC_VBSCRIPT", "on error resume next"),
    ("MAGIC_VBSCRIPT", "end sub"),
    ("MAGIC_VBSCRIPT", "end function"),
    ("MAGIC_VBSCRIPT", "wscript.echo \""),
    ("MAGIC_VBSCRIPT", "= createobject("),
    ("MAGIC_JSCRIPT", "new activexobject("),
    ("MAGIC_JSCRIPT", "wscript.createobject("),
    ("MAGIC_JSCRIPT", "wscript.echo("),
)

#: Kerberos names by value
KRB5_MSG_TYPE_NAMES = dict(KRB5_MSG_TYPES)
KRB5_ETYPE_NAMES = {value: name for value, name, _ in KRB5_ETYPES}
KRB5_WEAK_ETYPES = frozenset(value for value, _, weak in KRB5_ETYPES if weak)
KRB5_ERROR_NAMES = dict(KRB5_ERRORS)
KRB5_PA_TYPE_NAMES = dict(KRB5_PA_TYPES)
LDAP_OP_NAMES = dict(LDAP_OPS)
LDAP_RESULT_NAMES = dict(LDAP_RESULTS)
#: SASL kinds and file kinds by their enum value (the row's index)
SASL_KIND_NAMES = tuple(name for _, name in SASL_KINDS)
MAGIC_NAMES = tuple(name for _, name, _ in MAGIC)
MAGIC_MIME = {name: mimes for _, name, mimes in MAGIC}


def krb5_etype_name(value: int) -> str:
    """EVE krb5.encryption / ticket_encryption for an etype value."""
    return KRB5_ETYPE_NAMES.get(value) or KRB5_UNKNOWN["etype"].format(value)


def krb5_etype_weak(value: int) -> bool:
    """EVE krb5.weak_encryption: every etype but AES and Camellia (unknown ones too)."""
    return value in KRB5_WEAK_ETYPES or value not in KRB5_ETYPE_NAMES


def krb5_error_name(value: int) -> str:
    """EVE krb5.error_code for an error-code value."""
    return KRB5_ERROR_NAMES.get(value) or KRB5_UNKNOWN["error"].format(value)


def krb5_msg_type_name(value: int) -> str:
    """EVE krb5.msg_type (and failed_request) for a message type."""
    return KRB5_MSG_TYPE_NAMES.get(value) or KRB5_UNKNOWN["msg_type"].format(value)


def ldap_op_name(value: int) -> str:
    """EVE ldap operation for a protocolOp tag number."""
    return LDAP_OP_NAMES.get(value, LDAP_UNKNOWN_OP)


def ldap_result_name(value: int) -> str:
    """EVE ldap result_code for a resultCode value (its number when unnamed)."""
    return LDAP_RESULT_NAMES.get(value) or str(value)


# (C table name, rows of (value, name)) of the value -> name tables
_C_TABLES = (
    ("ws_krb5_msg_types", KRB5_MSG_TYPES),
    ("ws_krb5_etypes", tuple((v, name) for v, name, _ in KRB5_ETYPES)),
    ("ws_krb5_errors", KRB5_ERRORS),
    ("ws_krb5_pa_types", KRB5_PA_TYPES),
    ("ws_ldap_ops", LDAP_OPS),
    ("ws_ldap_results", LDAP_RESULTS),
)


def _c_str(text: str) -> str:
    """text as a C string literal (ASCII)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_header() -> str:
    """ext/includes/msg_names.h: each value table as rows of ws_msg_name with its count
    (WS_N_<table>), a lookup, the etypes' weak flags, the SASL and file kinds as enums
    (prefixed WS_) with their names, and the script markers."""
    out = ["/* Generated by setup.py from src/wirescore/msg_names.py: edit that, not this. */",
           "#ifndef WS_MSG_NAMES_H", "#define WS_MSG_NAMES_H", "",
           "typedef struct { long value; const char* name; } ws_msg_name;", ""]
    for table, rows in _C_TABLES:
        count = f"WS_N_{table[3:].upper()}"
        out.append(f"enum {{ {count} = {len(rows)} }};")
        out.append(f"static const ws_msg_name {table}[{count}] = {{")
        out += [f"    {{{value}, {_c_str(name)}}}," for value, name in rows]
        out += ["};", ""]
    out.append("static const unsigned char ws_krb5_etype_weak[WS_N_KRB5_ETYPES] = {"
               + ", ".join(str(int(weak)) for *_, weak in KRB5_ETYPES) + "};")
    for kinds, count, names in ((SASL_KINDS, "WS_N_SASL_KINDS", "ws_sasl_kinds"),
                                (MAGIC, "WS_N_MAGIC", "ws_magic_kinds")):
        out.append("enum {")
        out += [f"    WS_{row[0]} = {k}," for k, row in enumerate(kinds)]
        out += [f"    {count} = {len(kinds)}", "};"]
        out.append(f"static const char* const {names}[{count}] = {{"
                   + ", ".join(_c_str(row[1]) for row in kinds) + "};")
    out.append(f"enum {{ WS_N_SCRIPT_MARKERS = {len(SCRIPT_MARKERS)} }};")
    out.append("struct ws_script_marker_s { int kind; const char* word; unsigned int len; };")
    out.append("static const struct ws_script_marker_s ws_script_markers[WS_N_SCRIPT_MARKERS] = {")
    out += [f"    {{WS_{kind}, {_c_str(word)}, {len(word)}}}," for kind, word in SCRIPT_MARKERS]
    out += ["};", "",
            "/* the row of value v in a table of n rows, or -1 */",
            "static inline int ws_msg_row(const ws_msg_name* t, int n, long v) {",
            "    int i;",
            "    for (i = 0; i < n; i++)",
            "        if (t[i].value == v)",
            "            return i;",
            "    return -1;",
            "}", "",
            "/* EVE krb5.weak_encryption of etype v: weak unless listed as strong */",
            "static inline int ws_krb5_weak(long v) {",
            "    int i = ws_msg_row(ws_krb5_etypes, WS_N_KRB5_ETYPES, v);",
            "    return i < 0 || ws_krb5_etype_weak[i];",
            "}", "", "#endif", ""]
    return "\n".join(out)
