//! Element names of the aggregate schema, matched on local names (no namespace, RFC 9990's
//! `urn:ietf:params:xml:ns:dmarc-2.0`, or any prefix).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    Feedback,
    Version,
    ReportMetadata,
    OrgName,
    Email,
    ExtraContactInfo,
    ReportId,
    DateRange,
    Begin,
    End,
    Error,
    Generator,
    PolicyPublished,
    Domain,
    Adkim,
    Aspf,
    P,
    Sp,
    Np,
    Pct,
    Fo,
    Testing,
    DiscoveryMethod,
    Record,
    Row,
    SourceIp,
    Count,
    PolicyEvaluated,
    Disposition,
    Dkim,
    Spf,
    Reason,
    Type,
    Comment,
    Identifiers,
    HeaderFrom,
    EnvelopeFrom,
    EnvelopeTo,
    AuthResults,
    Selector,
    Scope,
    Result,
    HumanResult,
    Unknown,
}

impl Tag {
    pub(super) fn from_local_name(name: &[u8]) -> Tag {
        match name {
            b"feedback" => Tag::Feedback,
            b"version" => Tag::Version,
            b"report_metadata" => Tag::ReportMetadata,
            b"org_name" => Tag::OrgName,
            b"email" => Tag::Email,
            b"extra_contact_info" => Tag::ExtraContactInfo,
            b"report_id" => Tag::ReportId,
            b"date_range" => Tag::DateRange,
            b"begin" => Tag::Begin,
            b"end" => Tag::End,
            b"error" => Tag::Error,
            b"generator" => Tag::Generator,
            b"policy_published" => Tag::PolicyPublished,
            b"domain" => Tag::Domain,
            b"adkim" => Tag::Adkim,
            b"aspf" => Tag::Aspf,
            b"p" => Tag::P,
            b"sp" => Tag::Sp,
            b"np" => Tag::Np,
            b"pct" => Tag::Pct,
            b"fo" => Tag::Fo,
            b"testing" => Tag::Testing,
            b"discovery_method" => Tag::DiscoveryMethod,
            b"record" => Tag::Record,
            b"row" => Tag::Row,
            b"source_ip" => Tag::SourceIp,
            b"count" => Tag::Count,
            b"policy_evaluated" => Tag::PolicyEvaluated,
            b"disposition" => Tag::Disposition,
            b"dkim" => Tag::Dkim,
            b"spf" => Tag::Spf,
            b"reason" => Tag::Reason,
            b"type" => Tag::Type,
            b"comment" => Tag::Comment,
            // `identities` is the pre-RFC draft's name (field guide §2.5 item 46).
            b"identifiers" | b"identities" => Tag::Identifiers,
            b"header_from" => Tag::HeaderFrom,
            b"envelope_from" => Tag::EnvelopeFrom,
            b"envelope_to" => Tag::EnvelopeTo,
            b"auth_results" => Tag::AuthResults,
            b"selector" => Tag::Selector,
            b"scope" => Tag::Scope,
            b"result" => Tag::Result,
            b"human_result" => Tag::HumanResult,
            _ => Tag::Unknown,
        }
    }
}

/// What an open element means in its place in the tree, decided once when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// Outside the report root, or an element we do not read (extensions, unknown tags).
    Ignored,
    /// A structural element whose children we read.
    Container,
    /// The report root.
    Root,
    /// A record; finished when it closes.
    Record,
    /// `<auth_results><dkim>`: opens a new DKIM result.
    DkimAuth,
    /// `<auth_results><spf>`: opens a new SPF result.
    SpfAuth,
    /// `<policy_evaluated><reason>`: opens a new override reason.
    Reason,
    /// A value whose text we collect and store when it closes.
    Leaf(Field),
}

/// Every value the parser stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Version,
    OrgName,
    Email,
    ExtraContactInfo,
    ReportId,
    Begin,
    End,
    Error,
    Generator,
    PolicyDomain,
    Adkim,
    Aspf,
    P,
    Sp,
    Np,
    Pct,
    Fo,
    Testing,
    DiscoveryMethod,
    SourceIp,
    Count,
    Disposition,
    EvaluatedDkim,
    EvaluatedSpf,
    ReasonType,
    ReasonComment,
    HeaderFrom,
    EnvelopeFrom,
    EnvelopeTo,
    DkimDomain,
    DkimSelector,
    DkimResult,
    DkimHumanResult,
    SpfDomain,
    SpfScope,
    SpfResult,
    SpfHumanResult,
}

impl Field {
    /// Free text (ids, comments, human-readable results) may be long; every other value is a
    /// name, a number or a keyword and is cut at the shorter name bound.
    pub(super) fn is_free_text(self) -> bool {
        matches!(
            self,
            Field::ReportId
                | Field::ExtraContactInfo
                | Field::Error
                | Field::Generator
                | Field::ReasonComment
                | Field::DkimHumanResult
                | Field::SpfHumanResult
        )
    }
}

/// Decides what `tag` means under `parent` (the parent's own tag and slot), in any element
/// order, tolerating the misplacements seen in real reports.
pub(super) fn classify(tag: Tag, parent: Tag, parent_slot: Slot, in_record: bool) -> Slot {
    use Field as F;
    if matches!(parent_slot, Slot::Ignored | Slot::Leaf(_)) {
        return Slot::Ignored;
    }
    let leaf = Slot::Leaf;
    match (parent, tag) {
        (Tag::Feedback, Tag::Version) => leaf(F::Version),
        (Tag::Feedback, Tag::ReportMetadata | Tag::PolicyPublished) => Slot::Container,
        (Tag::Feedback, Tag::Record) => Slot::Record,

        (Tag::ReportMetadata, Tag::OrgName) => leaf(F::OrgName),
        (Tag::ReportMetadata, Tag::Email) => leaf(F::Email),
        (Tag::ReportMetadata, Tag::ExtraContactInfo) => leaf(F::ExtraContactInfo),
        (Tag::ReportMetadata, Tag::ReportId) => leaf(F::ReportId),
        (Tag::ReportMetadata, Tag::DateRange) => Slot::Container,
        (Tag::ReportMetadata, Tag::Error) => leaf(F::Error),
        (Tag::ReportMetadata, Tag::Generator) => leaf(F::Generator),
        (Tag::DateRange, Tag::Begin) => leaf(F::Begin),
        (Tag::DateRange, Tag::End) => leaf(F::End),

        (Tag::PolicyPublished, Tag::Domain) => leaf(F::PolicyDomain),
        (Tag::PolicyPublished, Tag::Adkim) => leaf(F::Adkim),
        (Tag::PolicyPublished, Tag::Aspf) => leaf(F::Aspf),
        (Tag::PolicyPublished, Tag::P) => leaf(F::P),
        (Tag::PolicyPublished, Tag::Sp) => leaf(F::Sp),
        (Tag::PolicyPublished, Tag::Np) => leaf(F::Np),
        (Tag::PolicyPublished, Tag::Pct) => leaf(F::Pct),
        (Tag::PolicyPublished, Tag::Fo) => leaf(F::Fo),
        (Tag::PolicyPublished, Tag::Testing) => leaf(F::Testing),
        (Tag::PolicyPublished, Tag::DiscoveryMethod) => leaf(F::DiscoveryMethod),

        (Tag::Record, Tag::Row | Tag::Identifiers | Tag::AuthResults) => Slot::Container,
        (Tag::Row, Tag::PolicyEvaluated) => Slot::Container,
        (Tag::PolicyEvaluated, Tag::Disposition) => leaf(F::Disposition),
        // The pre-RFC draft puts the aligned results straight under <row> (item 49).
        (Tag::PolicyEvaluated | Tag::Row, Tag::Dkim) => leaf(F::EvaluatedDkim),
        (Tag::PolicyEvaluated | Tag::Row, Tag::Spf) => leaf(F::EvaluatedSpf),
        (Tag::PolicyEvaluated, Tag::Reason) => Slot::Reason,
        (Tag::Reason, Tag::Type) => leaf(F::ReasonType),
        (Tag::Reason, Tag::Comment) => leaf(F::ReasonComment),

        (Tag::AuthResults, Tag::Dkim) => Slot::DkimAuth,
        (Tag::AuthResults, Tag::Spf) => Slot::SpfAuth,
        (Tag::Dkim, Tag::Domain) => leaf(F::DkimDomain),
        (Tag::Dkim, Tag::Selector) => leaf(F::DkimSelector),
        (Tag::Dkim, Tag::Result) => leaf(F::DkimResult),
        (Tag::Dkim, Tag::HumanResult) => leaf(F::DkimHumanResult),
        (Tag::Spf, Tag::Domain) => leaf(F::SpfDomain),
        (Tag::Spf, Tag::Scope) => leaf(F::SpfScope),
        (Tag::Spf, Tag::Result) => leaf(F::SpfResult),
        (Tag::Spf, Tag::HumanResult) => leaf(F::SpfHumanResult),

        // Values a reporter put one level off: read them anywhere inside a record.
        (_, Tag::SourceIp) if in_record => leaf(F::SourceIp),
        (_, Tag::Count) if in_record => leaf(F::Count),
        (_, Tag::HeaderFrom) if in_record => leaf(F::HeaderFrom),
        (_, Tag::EnvelopeFrom) if in_record => leaf(F::EnvelopeFrom),
        (_, Tag::EnvelopeTo) if in_record => leaf(F::EnvelopeTo),
        _ => Slot::Ignored,
    }
}
