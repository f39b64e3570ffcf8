//! CSV answers: RFC 4180 (CRLF line ends, quotes doubled), and cells a spreadsheet would run as
//! a formula neutralised.

/// A CSV writer producing RFC 4180.
pub fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// A whole CSV answer: the header, the rows (every cell neutralised), as an attachment.
pub fn attachment<const N: usize>(
    filename: &str,
    columns: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> Result<axum::response::Response, crate::http::error::ApiError> {
    use axum::response::IntoResponse;
    let internal = |e: &dyn std::fmt::Display| crate::http::error::ApiError::internal(e);
    let mut out = writer();
    out.write_record(columns).map_err(|e| internal(&e))?;
    for row in rows {
        out.write_record(row.iter().map(|c| safe_cell(c)))
            .map_err(|e| internal(&e))?;
    }
    let bytes = out.into_inner().map_err(|e| internal(&e))?;
    let disposition = format!("attachment; filename=\"{filename}\"");
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        axum::body::Body::from(bytes),
    )
        .into_response())
}

/// What a spreadsheet may read as the start of a formula: `=`, `+`, `-`, `@`, their fullwidth
/// forms (which some spreadsheets fold to the ASCII ones), and tab, CR and LF.
const FORMULA_STARTS: [char; 11] = [
    '=', '+', '-', '@', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}', '\t', '\r', '\n',
];

/// A cell a spreadsheet would read as a formula gets a leading `'` — also when spaces come
/// first, which spreadsheets skip.
pub fn safe_cell(value: &str) -> String {
    let first = value.chars().find(|c| *c != ' ');
    match first {
        Some(c) if FORMULA_STARTS.contains(&c) => format!("'{value}"),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_cell;

    #[test]
    fn formula_starts_are_neutralised_and_other_cells_kept() {
        for cell in [
            "=1+1",
            "+1",
            "-1",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "\n=1+1",
            "\u{FF1D}1+1",
            "\u{FF0B}1",
            "\u{FF0D}1",
            "\u{FF20}x",
            "  =1+1",
        ] {
            assert_eq!(safe_cell(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in ["grace@example.com", "1-2", "", "   ", "jira-software"] {
            assert_eq!(safe_cell(cell), cell);
        }
    }
}
